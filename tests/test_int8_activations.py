"""The int8 activations of the decode kernels: the NumPy reference of their quantization, the
error it stands for (the stated tolerance of that path), and which formats offer the kernels."""
from __future__ import annotations

import re

import numpy as np
import pytest

from runtime import ops_ref, quant_cuda
from runtime.cuda.source import INCLUDE_DIR
from runtime.ggml_types import GGMLType
from runtime.plugins import registry

#: Products on int8 activations against float32 ones, relative Frobenius error (stated in
#: docs/QUANT_FORMATS.md); the GPU tests hold the kernels to it as well.
INT8_ACTIVATION_TOL = 1e-2
INT8_TYPES = {GGMLType.MXFP4, GGMLType.Q8_0, GGMLType.Q5_0, GGMLType.Q4_K}


def test_quantize_bounds_and_scales():
    rng = np.random.default_rng(0)
    x = (rng.standard_normal((3, 256)) * rng.uniform(0.01, 100, (3, 1))).astype(np.float32)
    x[0, :32] = 0
    q, ds = ops_ref.quantize_q8(x)
    assert q.dtype == np.int8 and ds.shape == (3, 8, 2)
    units, qu = x.reshape(3, 8, 32), q.reshape(3, 8, 32).astype(np.int32)
    d = ds[..., 0]
    exact = np.abs(units).max(axis=-1) / np.float32(127)
    assert (exact <= d).all() and (d <= exact * (1 + 2.0 ** -21)).all()
    # 22 significant bits: the products' float bias times d is exact in float32 (q8_matmul.cuh)
    assert (d.view(np.uint32) & 3 == 0).all()
    biased = np.float32(1.5 * 2**23) * d
    np.testing.assert_array_equal(biased.astype(np.float64), 1.5 * 2**23 * d.astype(np.float64))
    assert np.abs(qu).max() == 127 and (qu[0, 0] == 0).all() and d[0, 0] == 0
    np.testing.assert_allclose(ds[..., 1], d * qu.sum(axis=-1), rtol=1e-6)
    # every value is within half a step of what its int8 stands for
    assert (np.abs(ops_ref.dequantize_q8(q, ds) - x).reshape(3, 8, 32) <= d[..., None] / 2 * (1 + 1e-6)).all()


def test_quantize_rejects_rows_that_are_not_whole_units():
    with pytest.raises(ValueError, match="multiple of 32"):
        ops_ref.quantize_q8(np.zeros((2, 40), np.float32))


@pytest.mark.parametrize("ggml_type", sorted(INT8_TYPES), ids=lambda t: t.name)
def test_int8_activation_error_is_within_the_stated_tolerance(ggml_type):
    fmt = registry().quant_format(ggml_type)
    cols = -(-2880 // fmt.block_size) * fmt.block_size
    rng = np.random.default_rng(1)
    w = fmt.dequantize(fmt.random(rng, (512, cols))).astype(np.float64)
    for x in (rng.standard_normal((4, cols)), rng.standard_t(3, (4, cols))):  # normal and heavy-tailed
        x = x.astype(np.float32)
        exact = x.astype(np.float64) @ w.T
        stood = ops_ref.dequantize_q8(*ops_ref.quantize_q8(x)).astype(np.float64) @ w.T
        err = np.linalg.norm(stood - exact) / np.linalg.norm(exact)
        assert 1e-4 < err <= INT8_ACTIVATION_TOL


def test_launcher_constants_match_the_kernels():
    """The launcher sizes grids from constants that quant_kernels.cuh defines too."""
    header = (INCLUDE_DIR / "quant_kernels.cuh").read_text()
    for name, value in [("MV_WARPS", quant_cuda._MV_WARPS), ("MV_MIN_BLOCKS", quant_cuda._MV_MIN_BLOCKS),
                        ("STREAM_MAX_COLS", quant_cuda.STREAM_MAX_COLS),
                        ("SWIGLU_BLOCK_ROWS", quant_cuda.SWIGLU_BLOCK_ROWS)]:
        assert re.search(rf"constexpr int {name} = {value};", header), name


def test_formats_with_two_row_stream_items_expand_their_kernels():
    assert "#define PLUGRT_Q8_TWO_ROW_STREAM_KERNELS(P, F) PLUGRT_Q8_STREAM_KERNELS(P, F, 2, _r2)" in (
        INCLUDE_DIR / "quant_kernels.cuh").read_text()
    for fmt, _ in registry().quant_formats.values():
        expands = f"PLUGRT_Q8_TWO_ROW_STREAM_KERNELS({fmt.cuda_prefix}," in fmt.cuda_sources()[0].code
        assert expands == fmt.two_row_stream_items, fmt.name
    assert registry().quant_format(GGMLType.MXFP4).two_row_stream_items


def test_formats_that_declare_int8_kernels_expand_them():
    header = (INCLUDE_DIR / "quant_kernels.cuh").read_text()
    for rows in quant_cuda._MV_ROWS_PER_WARP:  # the launcher's kernel names
        assert f"PLUGRT_MATVEC_Q8_KERNEL(P, F, {rows})" in header
    assert "P##_matvec_q8_nr##NR(" in header
    assert "P##_matvec_q8_experts(" in header and "P##_matvec_q8_experts_swiglu(" in header
    for ggml_type, (fmt, _) in registry().quant_formats.items():
        expands = f"PLUGRT_Q8_KERNELS({fmt.cuda_prefix}," in fmt.cuda_sources()[0].code
        assert expands == fmt.int8_activations == (ggml_type in INT8_TYPES), fmt.name
