"""The llama plugin on the cuda backend: its kernels against their NumPy twins, the synthetic
llama/qwen2/gemma3 presets against the CPU backend, and Gemma 3 270M against llama.cpp."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("pycuda")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/llama_reference.py

import llama_reference as ref  # noqa: E402
from plugins.llama import ops_ref  # noqa: E402
from runtime.backend import get_backend  # noqa: E402
from runtime.gguf.reader import open_gguf  # noqa: E402
from runtime.plugins import registry  # noqa: E402
from runtime.synth import write_synthetic  # noqa: E402

pytestmark = pytest.mark.cuda
TOL = 2e-3
#: Logits of the default CUDA path (every product on int8 activations, prefill and decode, about 0.5%
#: each) against the float32 CPU run, as a fraction of the largest logit: 7 random layers of
#: gemma3-tiny reach 4.8% at the worst of 40960 logits.
INT8_LOGIT_TOL = 6e-2


@pytest.fixture(scope="module")
def cuda():
    from runtime.cuda import device

    if not device.available():
        pytest.skip("no usable CUDA device")
    return get_backend("cuda")


def _close(got, want, tol=TOL):
    np.testing.assert_allclose(got, want, rtol=tol, atol=tol)


def test_gated_activations_and_scale(cuda):
    from plugins.llama import cuda_ops

    rng = np.random.default_rng(0)
    gate, up = (rng.standard_normal((7, 300)).astype(np.float32) * 3 for _ in range(2))
    g, u = cuda.tensor(gate), cuda.tensor(up)
    _close(cuda_ops.swiglu(g, u).get(), ops_ref.swiglu(gate, up))
    _close(cuda_ops.geglu(g, u).get(), ops_ref.geglu(gate, up))
    _close(cuda_ops.scale(g, 25.3).get(), ops_ref.scale(gate, 25.3))


@pytest.mark.parametrize("n,window,hq,hkv", [(1, 0, 4, 1), (37, 0, 4, 1), (37, 16, 8, 2), (1, 16, 4, 4)])
def test_attention_wide(cuda, n, window, hq, hkv):
    from plugins.llama import cuda_ops

    rng = np.random.default_rng(n + window)
    cap, dh, start = 64, 256, 20
    k_cache, v_cache = (rng.standard_normal((cap, hkv, dh)).astype(np.float32) for _ in range(2))
    q = rng.standard_normal((n, hq, dh)).astype(np.float32)
    positions = np.arange(start, start + n, dtype=np.int32)
    want = ops_ref.attention_wide(q, k_cache, v_cache, positions, 0.0625, window)
    got = cuda_ops.attention_wide(cuda.tensor(q), cuda.tensor(k_cache), cuda.tensor(v_cache),
                                  cuda.tensor(positions), 0.0625, window).get()
    _close(got, want)


@pytest.mark.parametrize("preset", ["llama-tiny", "qwen2-tiny", "gemma3-tiny", "gemma3-270m"])
def test_synthetic_preset_matches_cpu(cuda, tmp_path, preset):
    reg = registry()
    path = write_synthetic(reg.synthetic_preset(preset), tmp_path / f"{preset}.gguf", seed=3, show_progress=False)
    gguf = open_gguf(path)
    adapter = reg.adapter_class(gguf.metadata["general.architecture"])(gguf.metadata["general.architecture"])
    cfg = adapter.config(gguf.metadata)
    ids = list(np.random.default_rng(1).integers(0, cfg.vocab_size, 40))
    runners = {name: adapter.build(gguf, cfg, name, max_context=128, max_tokens_per_call=32)
               for name in ("cpu", "cuda")}
    # prefill in two chunks (the ring caches wrap on gemma3-tiny's 16-token window), then decode
    logits = {name: np.concatenate([r.forward(ids[:36]), *(r.forward([t]) for t in ids[36:])])
              for name, r in runners.items()}
    scale = np.abs(logits["cpu"]).max()
    np.testing.assert_allclose(logits["cuda"], logits["cpu"], atol=INT8_LOGIT_TOL * scale, rtol=0)
    agree = (logits["cuda"].argmax(-1) == logits["cpu"].argmax(-1)).mean()
    assert agree >= 0.9, f"{preset}: argmax agrees on {agree:.0%} of positions"


@pytest.fixture(scope="module")
def gemma_cuda(cuda):
    """Float32 activations: steps and free-running greedy continuations are held to llama.cpp's
    token for token. (The default int8-activation decode is checked against the F32 reference with
    the validation bars in test_validate_cuda.py.)"""
    return ref.gemma_runner(get_backend("cuda", int8_activations=False))


@pytest.mark.parametrize("case", ref.cases(), ids=lambda c: c["prompt"][:24])
def test_gemma_every_step_agrees_with_llamacpp(gemma_cuda, case):
    ref.check_teacher_forced(gemma_cuda[1], case)


@pytest.mark.parametrize("case", ref.stable_cases(), ids=lambda c: c["prompt"][:24])
def test_gemma_greedy_continuation_equals_llamacpp(gemma_cuda, case):
    assert ref.greedy(gemma_cuda[1], case["prompt_ids"], len(case["greedy_ids"])) == case["greedy_ids"]
