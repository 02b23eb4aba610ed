"""The int8-activation decode kernels against their NumPy references (needs a GPU).

``quantize_q8`` must reproduce ``ops_ref.quantize_q8`` exactly (same IEEE divisions, same
rounding). The products are checked against a float64 product of the reference weights with the
activations the int8 values stand for (``ops_ref.dequantize_q8``), at the fp32 tolerance 1e-3; how
far that is from the product on float32 activations is the stated INT8_ACTIVATION_TOL, checked
on the CPU in tests/test_int8_activations.py and here once more on the kernels' output.
"""
from __future__ import annotations

import numpy as np
import pytest

from runtime import ops_ref
from runtime.ggml_types import GGMLType
from runtime.plugins import registry

pytestmark = pytest.mark.cuda

INT8_TYPES = [GGMLType.MXFP4, GGMLType.Q8_0, GGMLType.Q5_0, GGMLType.Q4_K]
FP32_TOL = 1e-3
INT8_ACTIVATION_TOL = 1e-2
FP16_MMA_TOL = 5e-3  # the float32-activation path beyond 8 rows: fp16 tensor cores (test_quant_kernels)


def ops():
    from runtime.cuda import ops as cuda_ops

    return cuda_ops


def rel_err(got, want) -> float:
    return float(np.linalg.norm(got.astype(np.float64) - want) / np.linalg.norm(want))


def cols_for(fmt, cols: int) -> int:
    return -(-cols // fmt.block_size) * fmt.block_size


def random_weights(gpuarray, ggml_type, rows: tuple[int, ...], in_features: int, seed: int):
    """(format, in_features rounded up to whole blocks, raw weights, their device copy) of random
    weights of shape rows + (in_features,)."""
    fmt = registry().quant_format(ggml_type)
    in_features = cols_for(fmt, in_features)
    raw = fmt.random(np.random.default_rng(seed), (*rows, in_features), 0.02)
    return fmt, in_features, raw, gpuarray.to_gpu(raw)


def quantized(gpuarray, x):
    xq, xds = ops().quantize_q8(gpuarray.to_gpu(x))
    return xq, xds, ops_ref.dequantize_q8(*ops_ref.quantize_q8(x)).astype(np.float64)


def test_quantize_matches_reference_exactly(gpuarray):
    rng = np.random.default_rng(0)
    x = (rng.standard_normal((5, 3, 2880)) * rng.uniform(0.01, 100, (5, 3, 1))).astype(np.float32)
    x[0, 0, :32] = 0  # a unit of zeros has scale 0
    x[1, 2, 64:96] = -3.5  # a unit of one value: all at -127
    q, ds = ops().quantize_q8(gpuarray.to_gpu(x))
    want_q, want_ds = ops_ref.quantize_q8(x)
    np.testing.assert_array_equal(q.get(), want_q)
    np.testing.assert_allclose(ds.get(), want_ds, rtol=1e-6, atol=0)
    assert q.shape == x.shape and ds.shape == (5, 3, 90, 2)


# (3000, 8192): rows longer than one staged chunk in every format, and than the streamed kernel
# takes; (9000, 1024), (9001, 1024): enough rows that a warp of the streamed kernel takes several,
# the last fewer (an odd count goes to the one-row-a-warp kernel where items are two rows).
@pytest.mark.parametrize("ggml_type", INT8_TYPES, ids=lambda t: t.name)
@pytest.mark.parametrize("out_features,in_features",
                         [(2880, 2880), (640, 2048), (1000, 512), (3000, 8192), (9000, 1024), (9001, 1024)])
def test_matvec(gpuarray, ggml_type, out_features, in_features):
    fmt, in_features, raw, w = random_weights(gpuarray, ggml_type, (out_features,), in_features, seed=1)
    ref_w = fmt.dequantize(raw).astype(np.float64)
    rng = np.random.default_rng(2)
    bias = (0.1 * rng.standard_normal(out_features)).astype(np.float32)
    for n in (1, 3, 8, 11):
        x = rng.standard_normal((n, in_features)).astype(np.float32)
        xq, xds, x_stood = quantized(gpuarray, x)
        got = fmt.cuda_matvec_q8(xq, xds, w, in_features).get()
        assert rel_err(got, x_stood @ ref_w.T) <= FP32_TOL
        assert rel_err(got, x.astype(np.float64) @ ref_w.T) <= INT8_ACTIVATION_TOL
        with_bias = fmt.cuda_matvec_q8(xq, xds, w, in_features, bias=gpuarray.to_gpu(bias)).get()
        np.testing.assert_allclose(with_bias, got + bias, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("ggml_type", [GGMLType.Q8_0, GGMLType.MXFP4], ids=lambda t: t.name)
def test_lm_head_sized_matvec(gpuarray, ggml_type):
    fmt = registry().quant_format(ggml_type)
    rows, cols = 201088, 2880
    raw = fmt.random(np.random.default_rng(3), (rows, cols), 0.02)
    x = np.random.default_rng(4).standard_normal((2, cols)).astype(np.float32)
    xq, xds, x_stood = quantized(gpuarray, x)
    got = fmt.cuda_matvec_q8(xq, xds, gpuarray.to_gpu(raw), cols).get()
    want = np.empty((2, rows))
    for r0 in range(0, rows, 16384):
        want[:, r0:r0 + 16384] = x_stood @ fmt.dequantize(raw[r0:r0 + 16384]).T.astype(np.float64)
    assert rel_err(got, want) <= FP32_TOL


@pytest.mark.parametrize("ggml_type", INT8_TYPES, ids=lambda t: t.name)
def test_paired_rows_matvec(gpuarray, ggml_type):
    """One activation row against PAIRED_MATVEC_ROWS or more weight rows: two rows a warp, the last
    of an odd count alone; each row as the one-row-a-warp kernel makes it, to float32 rounding
    (ptxas orders the two kernels' multiply-adds differently)."""
    from runtime.quant_cuda import PAIRED_MATVEC_ROWS

    fmt = registry().quant_format(ggml_type)
    rows, cols = PAIRED_MATVEC_ROWS + 1, cols_for(fmt, 2880)
    raw = fmt.random(np.random.default_rng(5), (rows, cols), 0.02)
    rng = np.random.default_rng(6)
    x = rng.standard_normal((1, cols)).astype(np.float32)
    bias = (0.1 * rng.standard_normal(rows)).astype(np.float32)
    xq, xds, x_stood = quantized(gpuarray, x)
    got = fmt.cuda_matvec_q8(xq, xds, gpuarray.to_gpu(raw), cols, bias=gpuarray.to_gpu(bias)).get()
    want = np.empty((1, rows))
    for r0 in range(0, rows, 16384):
        want[:, r0:r0 + 16384] = x_stood @ fmt.dequantize(raw[r0:r0 + 16384]).T.astype(np.float64)
    assert rel_err(got, want + bias) <= FP32_TOL
    tail = slice(rows - 1001, rows)  # below the threshold: one row a warp
    one_a_warp = fmt.cuda_matvec_q8(xq, xds, gpuarray.to_gpu(raw[tail]), cols, bias=gpuarray.to_gpu(bias[tail]))
    np.testing.assert_allclose(got[:, tail], one_a_warp.get(), rtol=1e-5, atol=1e-5)


def experts_reference(fmt, raw, x, ids):
    """float64 out[t, j] = W[ids[t, j]] @ x[t, 0 or j], for valid ids."""
    n_tok, k = ids.shape
    want = np.zeros((n_tok, k, raw.shape[1]))
    xs = np.broadcast_to(x, (n_tok, k, x.shape[2]))
    for e in np.unique(ids):
        chose = ids == e
        want[chose] = xs[chose].astype(np.float64) @ fmt.dequantize(raw[e]).astype(np.float64).T
    return want


# in_features 4096: wider than the streamed kernels take (one row a warp)
@pytest.mark.parametrize("ggml_type", INT8_TYPES, ids=lambda t: t.name)
@pytest.mark.parametrize("n_experts, k, out_features, in_features",
                         [(8, 2, 200, 512), (32, 4, 5760, 2880), (32, 4, 2880, 2880), (8, 2, 300, 4096)])
def test_experts(gpuarray, ggml_type, n_experts, k, out_features, in_features):
    fmt, in_features, raw, w = random_weights(gpuarray, ggml_type, (n_experts, out_features), in_features, seed=5)
    rng = np.random.default_rng(6)
    bias = rng.standard_normal((n_experts, out_features)).astype(np.float32)
    for n_tok in (1, 3):
        ids = np.stack([rng.choice(n_experts, k, replace=False) for _ in range(n_tok)]).astype(np.int32)
        for x_rows in (1, k):
            x = rng.standard_normal((n_tok, x_rows, in_features)).astype(np.float32)
            xq, xds, x_stood = quantized(gpuarray, x)
            got = fmt.cuda_matvec_q8_experts(xq, xds, w, gpuarray.to_gpu(ids), in_features).get()
            assert got.shape == (n_tok, k, out_features)
            assert rel_err(got, experts_reference(fmt, raw, x_stood, ids)) <= FP32_TOL
            ready = fmt.cuda_matvec_q8_experts(xq, xds, w, gpuarray.to_gpu(ids), in_features, ids_ready=True)
            np.testing.assert_array_equal(ready.get(), got)
            with_bias = fmt.cuda_matvec_q8_experts(xq, xds, w, gpuarray.to_gpu(ids), in_features,
                                                   bias=gpuarray.to_gpu(bias)).get()
            np.testing.assert_allclose(with_bias, got + bias[ids], rtol=1e-6, atol=1e-6)


# Prefill products on int8 tensor cores: rows not a multiple of the 64-row tile, tokens fewer than
# one 128-token tile and not a multiple of it, an odd number of 32-column units (96 columns).
@pytest.mark.parametrize("ggml_type", INT8_TYPES, ids=lambda t: t.name)
@pytest.mark.parametrize("out_features,in_features", [(2880, 2880), (640, 2048), (1000, 512), (130, 96)])
def test_matmul(gpuarray, ggml_type, out_features, in_features):
    fmt, in_features, raw, w = random_weights(gpuarray, ggml_type, (out_features,), in_features, seed=12)
    ref_w = fmt.dequantize(raw).astype(np.float64)
    rng = np.random.default_rng(13)
    for n in (9, 64, 200):
        x = rng.standard_normal((n, in_features)).astype(np.float32)
        xq, xds, x_stood = quantized(gpuarray, x)
        got = fmt.cuda_matmul_q8(xq, xds, w, in_features).get()
        assert got.shape == (n, out_features)
        assert rel_err(got, x_stood @ ref_w.T) <= FP32_TOL


@pytest.mark.parametrize("ggml_type", INT8_TYPES, ids=lambda t: t.name)
@pytest.mark.parametrize("n_experts, k, out_features, in_features, n_tok",
                         [(8, 2, 200, 512, 40), (32, 4, 5760, 2880, 512), (32, 4, 2880, 2880, 100)])
def test_matmul_experts(gpuarray, ggml_type, n_experts, k, out_features, in_features, n_tok):
    fmt, in_features, raw, w = random_weights(gpuarray, ggml_type, (n_experts, out_features), in_features, seed=14)
    rng = np.random.default_rng(15)
    ids = np.stack([rng.choice(n_experts, k, replace=False) for _ in range(n_tok)]).astype(np.int32)
    for x_rows in (1, k):
        x = rng.standard_normal((n_tok, x_rows, in_features)).astype(np.float32)
        xq, xds, x_stood = quantized(gpuarray, x)
        got = fmt.cuda_matmul_q8_experts(xq, xds, w, gpuarray.to_gpu(ids), in_features).get()
        assert got.shape == (n_tok, k, out_features)
        assert rel_err(got, experts_reference(fmt, raw, x_stood, ids)) <= FP32_TOL


@pytest.mark.parametrize("ggml_type", [GGMLType.MXFP4, GGMLType.Q8_0], ids=lambda t: t.name)
@pytest.mark.parametrize("cols", [512, 4096])
@pytest.mark.parametrize("rows", [3001, 3002])
def test_expert_rows_of_invalid_ids_are_zero(gpuarray, ggml_type, cols, rows):
    """Every expert product (float32, int8, int8 gate/up/SwiGLU) writes zeros for a pair whose
    expert id is out of range, and the right values for the others of the same launch. 3001 or 3002
    rows over 4 pairs: a warp of the streamed int8 kernels (512 columns) takes several rows, the
    last warp fewer (MXFP4's two-row items take only the even count); 4096 columns take the
    one-row-a-warp kernels."""
    from runtime import quant_cuda

    fmt = registry().quant_format(ggml_type)
    n_experts, cols = 8, cols_for(fmt, cols)
    rng = np.random.default_rng(11)
    raw = fmt.random(rng, (n_experts, rows, cols), 0.05)
    w = gpuarray.to_gpu(raw)
    ids = np.array([[1, -1], [n_experts, 3]], np.int32)
    x = rng.standard_normal((2, 1, cols)).astype(np.float32)
    xq, xds, x_stood = quantized(gpuarray, x)
    bias = rng.standard_normal((n_experts, rows)).astype(np.float32)
    d_ids, d_bias = gpuarray.to_gpu(ids), gpuarray.to_gpu(bias)
    valid = (ids >= 0) & (ids < n_experts)
    safe_ids = np.where(valid, ids, 0)
    products = {
        "float32": (quant_cuda.linear_experts(fmt, gpuarray.to_gpu(x), w, d_ids, cols, bias=d_bias),
                    experts_reference(fmt, raw, x.astype(np.float64), safe_ids) + bias[safe_ids]),
        "int8": (fmt.cuda_matvec_q8_experts(xq, xds, w, d_ids, cols, bias=d_bias),
                 experts_reference(fmt, raw, x_stood, safe_ids) + bias[safe_ids]),
        "swiglu": (fmt.cuda_matvec_q8_experts_swiglu(xq, xds, w, w, d_ids, cols),
                   ops_ref.swiglu_oai(*[experts_reference(fmt, raw, x_stood, safe_ids)] * 2).astype(np.float64)),
    }
    products["int8, ids ready"] = (fmt.cuda_matvec_q8_experts(xq, xds, w, d_ids, cols, bias=d_bias, ids_ready=True),
                                   products["int8"][1])
    for name, (got, want) in products.items():
        got = got.get()
        assert not got[~valid].any(), name
        assert rel_err(got[valid], want[valid]) <= FP32_TOL, name


def test_backend_takes_int8_path_only_where_asked(gpuarray):
    """CudaBackend(int8_activations=...) picks the kernels: int8 (matvec up to 8 rows, tensor cores
    beyond) for a format that has them, float32 otherwise (the two differ by about the quantization
    error)."""
    from runtime.backend import get_backend
    from runtime.backend.base import Weight

    fmt = registry().quant_format(GGMLType.Q8_0)
    raw = fmt.random(np.random.default_rng(7), (640, 2048), 0.02)
    ref_w = fmt.dequantize(raw).astype(np.float64)
    for n in (4, 20):
        x = np.random.default_rng(8).standard_normal((n, 2048)).astype(np.float32)
        exact, x_stood = x.astype(np.float64) @ ref_w.T, quantized(gpuarray, x)[2] @ ref_w.T
        results = {}
        for flag in (True, False):
            backend = get_backend("cuda", int8_activations=flag)
            w = Weight("w", (640, 2048), fmt, gpuarray.to_gpu(raw))
            results[flag] = backend.numpy(backend.linear(backend.tensor(x), w))
        assert rel_err(results[True], x_stood) <= FP32_TOL
        assert rel_err(results[False], exact) <= (FP32_TOL if n <= 8 else FP16_MMA_TOL)
        assert rel_err(results[True], exact) > rel_err(results[False], exact)


def test_backend_lets_expert_ids_be_read_early_only_after_quantizing_itself(gpuarray, monkeypatch):
    """An int8 expert product may read its ids before its in-kernel wait (ids_ready) only when the
    backend quantized its input right before it (a float32 input, as GPT-OSS's down product gets),
    not when the input carries the quantization its norm made."""
    from runtime.backend import get_backend
    from runtime.backend.base import Weight

    fmt = registry().quant_format(GGMLType.MXFP4)
    seen = []
    real = type(fmt).cuda_matvec_q8_experts

    def spy(self, *args, **kwargs):
        seen.append(kwargs.get("ids_ready"))
        return real(self, *args, **kwargs)

    monkeypatch.setattr(type(fmt), "cuda_matvec_q8_experts", spy)
    rng = np.random.default_rng(14)
    w = Weight("w", (8, 64, 512), fmt, gpuarray.to_gpu(fmt.random(rng, (8, 64, 512), 0.02)))
    backend = get_backend("cuda", int8_activations=True)
    ids = backend.tensor(np.array([[1, 3]], np.int32))
    x = backend.tensor(rng.standard_normal((1, 512)).astype(np.float32))
    backend.linear_experts(backend.reshape(x, (1, 1, 512)), w, ids)
    normed = backend.rms_norm(x, backend.tensor(np.ones(512, np.float32)), 1e-5)
    backend.linear_experts(backend.reshape(normed, (1, 1, 512)), w, ids)
    assert seen == [True, False]


def test_rms_norm_carries_its_quantization(gpuarray):
    """rms_norm_q8 gives rms_norm's output with the int8 quantization of exactly that output; the
    backend's views keep it, and writing into the array drops it."""
    from runtime.backend import get_backend

    cuda_ops = ops()
    rng = np.random.default_rng(9)
    x = (rng.standard_normal((3, 2880)) * 4).astype(np.float32)
    w = rng.uniform(0.5, 1.5, 2880).astype(np.float32)
    h = cuda_ops.rms_norm_q8(gpuarray.to_gpu(x), gpuarray.to_gpu(w), 1e-5)
    plain = cuda_ops.rms_norm(gpuarray.to_gpu(x), gpuarray.to_gpu(w), 1e-5).get()
    np.testing.assert_array_equal(h.get(), plain)
    q, ds = getattr(h, cuda_ops.INT8_ATTRIBUTE)
    want_q, want_ds = ops_ref.quantize_q8(plain)
    np.testing.assert_array_equal(q.get(), want_q)
    np.testing.assert_allclose(ds.get(), want_ds, rtol=1e-6, atol=0)

    backend = get_backend("cuda", int8_activations=True)
    normed = backend.rms_norm(backend.tensor(x), backend.tensor(w), 1e-5)
    view = backend.reshape(normed, (3, 1, 2880))
    vq, vds = getattr(view, cuda_ops.INT8_ATTRIBUTE)
    assert vq.shape == (3, 1, 2880) and vds.shape == (3, 1, 90, 2)
    backend.write(normed, np.zeros((3, 2880), np.float32))
    assert getattr(normed, cuda_ops.INT8_ATTRIBUTE, None) is None
    off = get_backend("cuda", int8_activations=False)
    assert getattr(off.rms_norm(off.tensor(x), off.tensor(w), 1e-5), cuda_ops.INT8_ATTRIBUTE, None) is None


@pytest.mark.parametrize("ggml_type", [GGMLType.MXFP4, GGMLType.Q8_0], ids=lambda t: t.name)
@pytest.mark.parametrize("cols", [2880, 4096])  # streamed, and one row a warp
def test_experts_gate_up_swiglu_in_one_launch(gpuarray, ggml_type, cols):
    fmt = registry().quant_format(ggml_type)
    n_experts, k, rows = 32, 4, 2880
    rng = np.random.default_rng(10)
    raw_gate, raw_up = (fmt.random(rng, (n_experts, rows, cols), 0.05) for _ in range(2))
    bias_gate, bias_up = (4 * rng.standard_normal((n_experts, rows)).astype(np.float32) for _ in range(2))
    for n_tok in (1, 3):
        ids = np.stack([rng.choice(n_experts, k, replace=False) for _ in range(n_tok)]).astype(np.int32)
        x = rng.standard_normal((n_tok, 1, cols)).astype(np.float32)
        xq, xds, x_stood = quantized(gpuarray, x)
        got = fmt.cuda_matvec_q8_experts_swiglu(
            xq, xds, gpuarray.to_gpu(raw_gate), gpuarray.to_gpu(raw_up), gpuarray.to_gpu(ids), cols,
            gate_bias=gpuarray.to_gpu(bias_gate), up_bias=gpuarray.to_gpu(bias_up), alpha=1.702, limit=7.0).get()
        gate = experts_reference(fmt, raw_gate, x_stood, ids) + bias_gate[ids]
        up = experts_reference(fmt, raw_up, x_stood, ids) + bias_up[ids]
        want = ops_ref.swiglu_oai(gate, up).astype(np.float64)
        assert np.abs(gate).max() > 7  # the clamp is exercised
        assert rel_err(got, want) <= FP32_TOL


@pytest.mark.parametrize("ggml_type, two_row_items",
                         [(t, False) for t in INT8_TYPES] + [(GGMLType.MXFP4, True)], ids=str)
def test_streamed_warps_of_more_than_32_rows(gpuarray, monkeypatch, ggml_type, two_row_items):
    """A streamed warp hands its row sums over 32 at a time: enough tokens of small experts that
    each warp takes more than 32 rows, also in two-row items (which the launcher takes for so many
    rows only when told to). The fused product's grid is then as wide as keeps its blocks to
    SWIGLU_BLOCK_ROWS rows, wider than the estimate."""
    from runtime import quant_cuda
    from runtime.cuda import device

    if two_row_items:
        monkeypatch.setattr(quant_cuda, "TWO_ROW_ITEMS_MAX_ROWS", 10**6)
    n_experts, k, rows = 8, 4, 1000
    blocks_per_sm = registry().quant_format(ggml_type).stream_blocks_per_sm[1]
    resident_warps = device.sm_count() * blocks_per_sm * quant_cuda._MV_WARPS
    n_tok = 33 * resident_warps // (k * rows) + 1
    item_rows = 2 if two_row_items else 1
    grid = quant_cuda._expert_stream_grid(rows, n_tok * k, blocks_per_sm, item_rows)
    assert rows // (grid[0] * quant_cuda._MV_WARPS) > 32
    assert quant_cuda._swiglu_stream_grid(rows, n_tok * k, blocks_per_sm)[0] == -(-rows // quant_cuda.SWIGLU_BLOCK_ROWS)
    fmt, cols, raw_gate, w_gate = random_weights(gpuarray, ggml_type, (n_experts, rows), 512, seed=11)
    _, _, raw_up, w_up = random_weights(gpuarray, ggml_type, (n_experts, rows), 512, seed=12)
    rng = np.random.default_rng(13)
    bias = rng.standard_normal((n_experts, rows)).astype(np.float32)
    ids = np.stack([rng.choice(n_experts, k, replace=False) for _ in range(n_tok)]).astype(np.int32)
    xq, xds, x_stood = quantized(gpuarray, rng.standard_normal((n_tok, 1, cols)).astype(np.float32))
    d_ids = gpuarray.to_gpu(ids)
    gate = fmt.cuda_matvec_q8_experts(xq, xds, w_gate, d_ids, cols, bias=gpuarray.to_gpu(bias)).get()
    want_gate = experts_reference(fmt, raw_gate, x_stood, ids) + bias[ids]
    assert rel_err(gate, want_gate) <= FP32_TOL
    fused = fmt.cuda_matvec_q8_experts_swiglu(xq, xds, w_gate, w_up, d_ids, cols, gate_bias=gpuarray.to_gpu(bias),
                                              alpha=1.702, limit=7.0).get()
    want = ops_ref.swiglu_oai(want_gate, experts_reference(fmt, raw_up, x_stood, ids))
    assert rel_err(fused, want.astype(np.float64)) <= FP32_TOL
