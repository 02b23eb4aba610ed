"""The decode step recorded as a CUDA graph gives the logits of the step launched kernel by kernel."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("pycuda")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/decode_helpers.py

from decode_helpers import build_runner as runner  # noqa: E402
from decode_helpers import greedy_logits as greedy  # noqa: E402
from runtime.backend import get_backend  # noqa: E402
from runtime.cuda.graph import CudaGraph  # noqa: E402
from runtime.plugins import registry  # noqa: E402
from runtime.synth import write_synthetic  # noqa: E402

pytestmark = pytest.mark.cuda
PRESETS = ["gpt-oss-tiny", "gpt-oss-tiny-q4km", "gpt2-tiny", "llama-tiny", "qwen2-tiny", "gemma3-tiny"]


@pytest.fixture(scope="module")
def cuda():
    from runtime.cuda import device

    if not device.available():
        pytest.skip("no usable CUDA device")
    return get_backend("cuda")


@pytest.mark.parametrize("preset", PRESETS)
def test_graph_decode_equals_kernel_by_kernel(cuda, preset, tmp_path):
    path = write_synthetic(registry().synthetic_preset(preset), tmp_path / f"{preset}.gguf", seed=11)
    graphed, eager = runner(path, cuda), runner(path, cuda)
    eager._step = False  # never record: every step launches its kernels one by one
    prompt = list(range(3, 40))  # past gemma3-tiny's sliding window, so its ring wraps during decode
    want = greedy(eager, prompt, 40)
    got = greedy(graphed, prompt, 40)
    assert isinstance(graphed._step[0], CudaGraph)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(got.argmax(axis=1), want.argmax(axis=1))
    # the device argmax after the replayed step picks the same tokens
    graphed.reset()
    tokens = [graphed.forward_greedy(prompt)]
    for _ in range(40):
        tokens.append(graphed.forward_greedy([tokens[-1]]))
    assert tokens == want.argmax(axis=1).tolist()


@pytest.mark.parametrize("preset", ["gpt-oss-tiny", "gemma3-tiny"])
def test_greedy_tokens_fed_back_on_the_device(cuda, preset, tmp_path):
    """greedy_tokens queues each step before its token reaches the host (argmax into the step's id
    buffer, positions advanced by a kernel): same tokens as forward_greedy step by step."""
    path = write_synthetic(registry().synthetic_preset(preset), tmp_path / f"{preset}.gguf", seed=11)
    model = runner(path, cuda)
    prompt = list(range(3, 40))
    model.reset()
    want = [model.forward_greedy(prompt)]
    for _ in range(30):
        want.append(model.forward_greedy([want[-1]]))
    model.reset()
    tokens = model.greedy_tokens(prompt)
    got = [next(tokens) for _ in range(20)]
    tokens.close()
    assert got == want[:20] and model.position == len(prompt) + 19
    # the runner goes on from the 20th token as if it had been fed step by step
    more = model.greedy_tokens([got[-1]])
    assert [next(more) for _ in range(11)] == want[20:31]
    more.close()
