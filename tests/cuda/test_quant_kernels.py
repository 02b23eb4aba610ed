"""Every quantization kernel against its NumPy reference on random data (needs a GPU).

Tolerances (relative Frobenius error against a float64 product of the reference weights):
fp32-accumulation paths (matvec, expert matvec) <= 1e-3; tensor-core paths (fp16 weights and
activations, fp32 accumulation) <= FP16_MMA_TOL. Dequantization to fp32 matches the reference to
float32 rounding; to fp16/bf16 within one rounding of the target type.
"""
from __future__ import annotations

import numpy as np
import pytest

from runtime import quant_cuda
from runtime.ggml_types import GGMLType
from runtime.plugins import registry

pytestmark = pytest.mark.cuda

TYPES = [GGMLType.F32, GGMLType.F16, GGMLType.BF16, GGMLType.MXFP4,
         GGMLType.Q8_0, GGMLType.Q5_0, GGMLType.Q4_K, GGMLType.Q6_K]
FP32_TOL = 1e-3
#: fp16 rounding of both operands (2^-11 each) over random-sign sums stays well below this.
FP16_MMA_TOL = 5e-3


def fmt_of(ggml_type):
    return registry().quant_format(ggml_type)


def cols_for(fmt, cols: int) -> int:
    """``cols``, rounded up to the format's block (K-quants cannot hold 2880-wide rows)."""
    return -(-cols // fmt.block_size) * fmt.block_size


def rel_err(got: np.ndarray, want: np.ndarray) -> float:
    return float(np.linalg.norm(got.astype(np.float64) - want) / np.linalg.norm(want))


def weights(fmt, shape, seed=0):
    raw = fmt.random(np.random.default_rng(seed), shape, 0.02)
    return raw, fmt.dequantize(raw)


@pytest.mark.parametrize("ggml_type", TYPES, ids=lambda t: t.name)
def test_dequantize_to_every_dtype(gpuarray, ggml_type):
    fmt = fmt_of(ggml_type)
    raw, ref = weights(fmt, (2, 640, 2048))
    w = gpuarray.to_gpu(raw)
    f32 = fmt.cuda_dequantize(w, 2048).get()
    np.testing.assert_allclose(f32, ref, rtol=1e-6, atol=1e-9)
    f16 = fmt.cuda_dequantize(w, 2048, np.float16).get()
    np.testing.assert_allclose(f16.astype(np.float32), ref, rtol=2**-10, atol=1e-7)
    bf16 = fmt.cuda_dequantize(w, 2048, "bfloat16").get()
    as_f32 = (bf16.astype(np.uint32) << 16).view(np.float32)
    np.testing.assert_allclose(as_f32, ref, rtol=2**-7, atol=1e-30)


@pytest.mark.parametrize("ggml_type", TYPES, ids=lambda t: t.name)
@pytest.mark.parametrize("out_features,in_features", [(2880, 2880), (640, 2048), (1000, 512)])
def test_matvec_and_matmul(gpuarray, ggml_type, out_features, in_features):
    fmt = fmt_of(ggml_type)
    in_features = cols_for(fmt, in_features)
    raw, ref_w = weights(fmt, (out_features, in_features))
    w = gpuarray.to_gpu(raw)
    rng = np.random.default_rng(1)
    for n in (1, 3, 8, 11):
        x = rng.standard_normal((n, in_features)).astype(np.float32)
        want = x.astype(np.float64) @ ref_w.T.astype(np.float64)
        assert rel_err(fmt.cuda_matvec(gpuarray.to_gpu(x), w, in_features).get(), want) <= FP32_TOL
    for n in (1, 17, 130):
        x = rng.standard_normal((n, in_features)).astype(np.float32)
        want = x.astype(np.float64) @ ref_w.T.astype(np.float64)
        got = fmt.cuda_matmul(gpuarray.to_gpu(x), w, in_features).get()
        assert rel_err(got, want) <= FP16_MMA_TOL
        linear = fmt.cuda_linear(gpuarray.to_gpu(x), w, in_features).get()
        assert rel_err(linear, want) <= (FP32_TOL if n <= 8 else FP16_MMA_TOL)


@pytest.mark.parametrize("ggml_type", [GGMLType.MXFP4, GGMLType.Q8_0], ids=lambda t: t.name)
def test_matvec_of_rows_longer_than_one_staged_chunk(gpuarray, ggml_type):
    fmt = fmt_of(ggml_type)
    raw, ref_w = weights(fmt, (3000, 8192))
    w = gpuarray.to_gpu(raw)
    x = np.random.default_rng(2).standard_normal((3, 8192)).astype(np.float32)
    want = x.astype(np.float64) @ ref_w.T.astype(np.float64)
    assert rel_err(fmt.cuda_matvec(gpuarray.to_gpu(x), w, 8192).get(), want) <= FP32_TOL


@pytest.mark.parametrize("ggml_type", TYPES, ids=lambda t: t.name)
def test_embedding_gathers_rows(gpuarray, ggml_type):
    fmt = fmt_of(ggml_type)
    raw, ref = weights(fmt, (1000, 512))
    ids = np.array([0, 999, 5, 5, 123], np.int32)
    got = fmt.cuda_embedding(gpuarray.to_gpu(raw), gpuarray.to_gpu(ids), 512).get()
    np.testing.assert_allclose(got, ref[ids], rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("ggml_type", [GGMLType.Q8_0, GGMLType.MXFP4], ids=lambda t: t.name)
def test_lm_head_sized_gather_and_matvec(gpuarray, ggml_type):
    fmt = fmt_of(ggml_type)
    rows, cols = 201088, 2880
    raw = fmt.random(np.random.default_rng(2), (rows, cols), 0.02)
    w = gpuarray.to_gpu(raw)
    ids = np.array([0, 1, 200000, rows - 1], np.int32)
    got = fmt.cuda_embedding(w, gpuarray.to_gpu(ids), cols).get()
    np.testing.assert_allclose(got, fmt.dequantize(raw[ids]), rtol=1e-6, atol=1e-9)
    x = np.random.default_rng(3).standard_normal((2, cols)).astype(np.float32)
    got = fmt.cuda_matvec(gpuarray.to_gpu(x), w, cols).get()
    want = np.empty((2, rows))
    for r0 in range(0, rows, 16384):
        want[:, r0:r0 + 16384] = x.astype(np.float64) @ fmt.dequantize(raw[r0:r0 + 16384]).T.astype(np.float64)
    assert rel_err(got, want) <= FP32_TOL


def experts_reference(fmt, raw, x, ids):
    n_tok, k = ids.shape
    want = np.empty((n_tok, k, raw.shape[1]))
    cache = {}
    for t in range(n_tok):
        for j in range(k):
            e = int(ids[t, j])
            if e not in cache:
                cache[e] = fmt.dequantize(raw[e]).astype(np.float64)
            want[t, j] = cache[e] @ x[t, 0 if x.shape[1] == 1 else j].astype(np.float64)
    return want


def route(rng, n_tok, n_experts, k):
    return np.stack([rng.choice(n_experts, k, replace=False) for _ in range(n_tok)]).astype(np.int32)


@pytest.mark.parametrize("ggml_type", TYPES, ids=lambda t: t.name)
def test_experts_small(gpuarray, ggml_type):
    fmt = fmt_of(ggml_type)
    cols = cols_for(fmt, 512)
    raw, _ = weights(fmt, (8, 200, cols))
    w = gpuarray.to_gpu(raw)
    rng = np.random.default_rng(4)
    for n_tok, use_matmul, tol in ((3, False, FP32_TOL), (150, True, FP16_MMA_TOL)):
        ids = route(rng, n_tok, 8, 2)
        for x_rows in (1, 2):
            x = rng.standard_normal((n_tok, x_rows, cols)).astype(np.float32)
            got = quant_cuda.linear_experts(fmt, gpuarray.to_gpu(x), w, gpuarray.to_gpu(ids), cols,
                                            use_matmul=use_matmul).get()
            assert rel_err(got, experts_reference(fmt, raw, x, ids)) <= tol
            if not use_matmul:  # the matvec adds the selected experts' bias rows
                bias = rng.standard_normal((8, 200)).astype(np.float32)
                with_bias = quant_cuda.linear_experts(fmt, gpuarray.to_gpu(x), w, gpuarray.to_gpu(ids), cols,
                                                      bias=gpuarray.to_gpu(bias)).get()
                np.testing.assert_allclose(with_bias, got + bias[ids], rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("ggml_type", [GGMLType.MXFP4, GGMLType.Q8_0], ids=lambda t: t.name)
@pytest.mark.parametrize("out_features", [5760, 2880])
def test_experts_gptoss_shapes(gpuarray, ggml_type, out_features):
    fmt = fmt_of(ggml_type)
    n_experts, k, cols = 32, 4, 2880
    raw = fmt.random(np.random.default_rng(5), (n_experts, out_features, cols), 0.02)
    w = gpuarray.to_gpu(raw)
    rng = np.random.default_rng(6)
    for n_tok, tol in ((1, FP32_TOL), (4, FP32_TOL), (40, FP16_MMA_TOL)):
        ids = route(rng, n_tok, n_experts, k)
        x_rows = 1 if out_features == 5760 else k
        x = rng.standard_normal((n_tok, x_rows, cols)).astype(np.float32)
        got = fmt.cuda_linear_experts(gpuarray.to_gpu(x), w, gpuarray.to_gpu(ids), cols).get()
        assert got.shape == (n_tok, k, out_features)
        assert rel_err(got, experts_reference(fmt, raw, x, ids)) <= tol


def test_stream_and_preallocated_out(gpuarray):
    import pycuda.driver as drv

    fmt = fmt_of(GGMLType.Q8_0)
    raw, ref_w = weights(fmt, (256, 512))
    x = np.random.default_rng(7).standard_normal((2, 512)).astype(np.float32)
    out = gpuarray.empty((2, 256), np.float32)
    stream = drv.Stream()
    got = fmt.cuda_linear(gpuarray.to_gpu(x), gpuarray.to_gpu(raw), 512, stream=stream, out=out)
    stream.synchronize()
    assert got is out
    assert rel_err(out.get(), x.astype(np.float64) @ ref_w.T) <= FP32_TOL
    bias = np.arange(256, dtype=np.float32)
    with_bias = fmt.cuda_matvec(gpuarray.to_gpu(x), gpuarray.to_gpu(raw), 512, bias=gpuarray.to_gpu(bias)).get()
    np.testing.assert_allclose(with_bias, out.get() + bias, rtol=1e-6, atol=1e-5)
