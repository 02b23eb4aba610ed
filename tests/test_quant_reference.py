"""NumPy references of every quantization format against gguf-py, round trips and random()."""
from __future__ import annotations

import numpy as np
import pytest
from gguf import quants

from runtime.ggml_types import GGMLType
from runtime.plugins import registry

TYPES = [GGMLType.F32, GGMLType.F16, GGMLType.BF16, GGMLType.MXFP4,
         GGMLType.Q8_0, GGMLType.Q5_0, GGMLType.Q4_K, GGMLType.Q6_K]
#: Bound on the RMS error of quantize -> dequantize relative to the RMS of Gaussian data.
ROUND_TRIP_RMS = {GGMLType.F32: 0.0, GGMLType.F16: 1e-3, GGMLType.BF16: 4e-3, GGMLType.MXFP4: 0.2,
                  GGMLType.Q8_0: 0.01, GGMLType.Q5_0: 0.06, GGMLType.Q4_K: 0.1, GGMLType.Q6_K: 0.03}


def fmt_of(ggml_type):
    return registry().quant_format(ggml_type)


def same_bits(a: np.ndarray, b: np.ndarray) -> bool:
    return a.shape == b.shape and np.array_equal(a.view(np.uint32), b.view(np.uint32))


@pytest.mark.parametrize("ggml_type", TYPES, ids=lambda t: t.name)
def test_every_type_of_a_q4km_and_gptoss_file_is_registered(ggml_type):
    assert fmt_of(ggml_type).ggml_type == ggml_type


@pytest.mark.parametrize("ggml_type", TYPES, ids=lambda t: t.name)
@pytest.mark.parametrize("shape", [(3, 256), (2, 5, 512), (640, 2880 // 256 * 256)])
def test_dequantize_of_random_raw_matches_gguf_bit_for_bit(ggml_type, shape):
    fmt = fmt_of(ggml_type)
    raw = fmt.random(np.random.default_rng(0), shape)
    assert raw.dtype == np.uint8 and raw.shape == (*shape[:-1], fmt.row_bytes(shape[-1]))
    assert same_bits(fmt.dequantize(raw), quants.dequantize(raw, ggml_type))


@pytest.mark.parametrize("ggml_type", [GGMLType.MXFP4, GGMLType.Q8_0, GGMLType.Q5_0], ids=lambda t: t.name)
def test_dequantize_of_2880_wide_rows_matches_gguf(ggml_type):
    fmt = fmt_of(ggml_type)
    raw = fmt.random(np.random.default_rng(1), (7, 2880))
    assert same_bits(fmt.dequantize(raw), quants.dequantize(raw, ggml_type))


@pytest.mark.parametrize("ggml_type", [t for t in TYPES if t not in (GGMLType.F32, GGMLType.F16, GGMLType.BF16)],
                         ids=lambda t: t.name)
def test_dequantize_of_arbitrary_bytes_matches_gguf(ggml_type):
    """Every bit pattern, NaN and inf scales included, decodes as gguf decodes it."""
    fmt = fmt_of(ggml_type)
    raw = np.random.default_rng(2).integers(0, 256, (4, fmt.type_size * 3), dtype=np.uint8)
    with np.errstate(over="ignore", invalid="ignore"):
        assert same_bits(fmt.dequantize(raw), quants.dequantize(raw, ggml_type))


@pytest.mark.parametrize("ggml_type", TYPES, ids=lambda t: t.name)
def test_quantize_round_trip_error_is_bounded(ggml_type):
    fmt = fmt_of(ggml_type)
    values = np.random.default_rng(3).standard_normal((8, 1024)).astype(np.float32)
    raw = fmt.quantize(values)
    assert raw.dtype == np.uint8 and raw.shape == (8, fmt.row_bytes(1024))
    back = fmt.dequantize(raw)
    rel_rms = np.sqrt(np.mean((back - values) ** 2) / np.mean(values ** 2))
    assert rel_rms <= ROUND_TRIP_RMS[ggml_type]
    assert same_bits(back, quants.dequantize(raw, ggml_type))


@pytest.mark.parametrize("ggml_type", [GGMLType.MXFP4, GGMLType.Q8_0, GGMLType.Q5_0, GGMLType.BF16],
                         ids=lambda t: t.name)
def test_quantize_matches_gguf_where_gguf_quantizes(ggml_type):
    fmt = fmt_of(ggml_type)
    values = np.random.default_rng(4).standard_normal((4, 256)).astype(np.float32)
    assert np.array_equal(fmt.quantize(values), quants.quantize(values, ggml_type).view(np.uint8))


@pytest.mark.parametrize("ggml_type", [GGMLType.Q4_K, GGMLType.Q6_K], ids=lambda t: t.name)
def test_kquant_quantize_keeps_zeros_and_constant_blocks(ggml_type):
    fmt = fmt_of(ggml_type)
    values = np.zeros((2, 256), np.float32)
    values[1] = 0.5
    back = fmt.dequantize(fmt.quantize(values))
    assert np.all(back[0] == 0)
    assert np.allclose(back[1], 0.5, rtol=0.02)


@pytest.mark.parametrize("ggml_type", TYPES, ids=lambda t: t.name)
@pytest.mark.parametrize("scale", [0.02, 1.0])
def test_random_is_finite_and_of_the_requested_magnitude(ggml_type, scale):
    fmt = fmt_of(ggml_type)
    values = fmt.dequantize(fmt.random(np.random.default_rng(5), (64, 2048), scale))
    assert np.isfinite(values).all()
    assert 0.5 * scale <= np.abs(values).mean() <= 2 * scale
    assert values.std() > 0.3 * scale
