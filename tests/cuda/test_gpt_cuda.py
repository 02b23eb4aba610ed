"""The GPT plugin on the cuda backend against the CPU reference (same GGUF files)."""
from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("pycuda")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/hf_tiny.py

import hf_tiny  # noqa: E402
from plugins.gpt.adapter import GPTInferenceAdapter  # noqa: E402
from plugins.gpt.convert import convert_hf  # noqa: E402
from runtime.backend import get_backend  # noqa: E402
from runtime.gguf.reader import open_gguf  # noqa: E402

pytestmark = pytest.mark.cuda
TOL = 2e-2
#: Logits of decode-size calls on int8 activations against the float32 CPU reference.
INT8_TOL = 5e-2
VOCAB = 320


@pytest.fixture(scope="module")
def cuda():
    """float32 activations throughout, so that greedy decoding can be compared token for token."""
    from runtime.cuda import device

    if not device.available():
        pytest.skip("no usable CUDA device")
    return get_backend("cuda", int8_activations=False)


def runner(path, backend, **kw):
    gguf = open_gguf(path)
    adapter = GPTInferenceAdapter(gguf.architecture)
    return adapter.build(gguf, adapter.config(gguf.metadata), backend, **kw)


def greedy(run, prompt, steps):
    run.reset()
    out, logits = [], run.forward_last(prompt)
    for _ in range(steps):
        out.append(int(np.argmax(logits)))
        logits = run.forward_last([out[-1]])
    return out


#: (arch, dtype, expert type, prefill chunk). A chunk of at most 8 tokens keeps every linear on the fp32
#: matvec kernels; larger chunks use the fp16 tensor-core matmul, whose rounding can flip a near-tied
#: MoE routing decision (a discrete change no tolerance covers), so GPT-OSS compares on fp32 kernels
#: and the dense GPT-2 covers the tensor-core prefill.
CASES = [("gpt_oss", "f32", "f32", 8), ("gpt_oss", "f32", "mxfp4", 8), ("gpt_oss", "q8_0", "mxfp4", 8),
         ("gpt2", "f32", "f32", 64), ("gpt2", "q8_0", "f32", 64), ("gpt2", "f32", "f32", 8)]


@pytest.mark.parametrize("kind, dtype, experts, chunk", CASES, ids=["-".join(map(str, c)) for c in CASES])
def test_cuda_matches_cpu(kind, dtype, experts, chunk, cuda, tmp_path):
    hf_tiny.build(kind, tmp_path / "hf")
    path = convert_hf(tmp_path / "hf", tmp_path / "m.gguf", dtype=dtype, expert_type=experts)
    cpu_run, gpu_run = runner(path, get_backend("cpu")), runner(path, cuda, max_tokens_per_call=chunk)
    ids = hf_tiny.prompt(64, VOCAB)
    cpu_logits, gpu_logits = cpu_run.forward(ids), gpu_run.forward(ids)
    err = hf_tiny.rel_err(gpu_logits, cpu_logits)
    per_position = np.abs(gpu_logits - cpu_logits).max(axis=1) / np.abs(cpu_logits).max()
    print(f"{kind} {dtype}/{experts} chunk {chunk}: logits rel err {err:.2e}, "
          f"worst positions {np.argsort(per_position)[-3:].tolist()}")
    assert err < TOL
    prompt = hf_tiny.prompt(40, VOCAB, seed=7)
    assert greedy(gpu_run, prompt, 32) == greedy(cpu_run, prompt, 32)


@pytest.mark.parametrize("chunk", [8, 1, 64])
def test_int8_activations_stay_close_to_cpu(chunk, cuda, tmp_path):
    """Every Q8_0 product on int8 activations: the dp4a matvec kernels in calls of at most 8 tokens,
    the int8 tensor-core matmul in calls of 64. A dense model, since a tiny random MoE flips
    near-tied routing decisions under any 0.5% error."""
    hf_tiny.build("gpt2", tmp_path / "hf")
    path = convert_hf(tmp_path / "hf", tmp_path / "m.gguf", dtype="q8_0", expert_type="f32")
    int8 = get_backend("cuda", int8_activations=True)
    cpu_run, gpu_run = runner(path, get_backend("cpu")), runner(path, int8, max_tokens_per_call=chunk)
    ids = hf_tiny.prompt(64, VOCAB)
    cpu_logits, gpu_logits = cpu_run.forward(ids), gpu_run.forward(ids)
    err = hf_tiny.rel_err(gpu_logits, cpu_logits)
    agree = float(np.mean(gpu_logits.argmax(axis=1) == cpu_logits.argmax(axis=1)))
    print(f"int8 gpt2 q8_0 chunk {chunk}: logits rel err {err:.2e}, top-1 agreement {agree:.2f}")
    assert err < INT8_TOL and agree >= 0.95


def test_gpt_oss_20b_synthetic_decodes(cuda, tmp_path):
    """The full-size synthetic gpt-oss-20b (MXFP4 experts, Q8_0 rest) loads and decodes 32 tokens."""
    from plugins.gpt.presets import PRESETS
    from runtime.synth import write_synthetic

    preset = next(p for p in PRESETS if p.name == "gpt-oss-20b")
    t0 = time.perf_counter()
    path = write_synthetic(preset, tmp_path / "20b.gguf", show_progress=False)
    t1 = time.perf_counter()
    run = runner(path, cuda, max_context=4096)
    t2 = time.perf_counter()
    logits = run.forward_last(hf_tiny.prompt(100, preset.vocab_size))
    tokens = []
    for _ in range(32):
        assert np.isfinite(logits).all()
        tokens.append(int(np.argmax(logits)))
        logits = run.forward_last([tokens[-1]])
    t3 = time.perf_counter()
    print(f"20b: synth {t1 - t0:.1f}s, load {t2 - t1:.1f}s, prefill 100 + decode 32 in {t3 - t2:.2f}s")
    assert np.isfinite(logits).all() and run.position == 132
