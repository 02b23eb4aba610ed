"""Plain float weights (F32, F16, BF16): raw bytes are the little-endian values themselves."""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np

from runtime.cuda.source import CudaSource
from runtime.ggml_types import GGMLType
from runtime.quant import QuantFormat


@lru_cache(maxsize=None)
def _source(stem: str) -> CudaSource:
    return CudaSource.from_file(Path(__file__).with_name(f"{stem}.cu"))


def bf16_bits(values: np.ndarray) -> np.ndarray:
    """float32 -> bfloat16 bit patterns (uint16), rounding to nearest even and keeping NaNs quiet,
    as ggml_compute_fp32_to_bf16."""
    n = np.ascontiguousarray(values, dtype=np.float32).view(np.uint32)
    n = np.where((n & 0x7FFFFFFF) > 0x7F800000, (n & np.uint32(0xFFFF0000)) | np.uint32(64 << 16), n)
    n = (n.astype(np.uint64) + (0x7FFF + ((n >> 16) & 1))) >> 16
    return n.astype(np.uint16)


class _FloatFormat(QuantFormat):
    """Values stored as ``storage`` (a NumPy dtype)."""

    storage: np.dtype

    def dequantize(self, raw: np.ndarray) -> np.ndarray:
        return self._values(np.ascontiguousarray(raw, dtype=np.uint8).view(self.storage))

    def _values(self, stored: np.ndarray) -> np.ndarray:
        return stored.astype(np.float32)

    def quantize(self, values: np.ndarray) -> np.ndarray:
        stored = np.ascontiguousarray(values, dtype=self.storage)
        return stored.view(np.uint8).reshape(*stored.shape[:-1], -1)

    def random(self, rng: np.random.Generator, shape: tuple[int, ...], scale: float = 0.02) -> np.ndarray:
        values = rng.standard_normal(shape, dtype=np.float32)
        values *= np.float32(scale)
        return self.quantize(values)

    def cuda_sources(self) -> list[CudaSource]:
        return [_source(self.cuda_prefix)]


class F32Format(_FloatFormat):
    ggml_type = GGMLType.F32
    storage = np.dtype(np.float32)


class F16Format(_FloatFormat):
    ggml_type = GGMLType.F16
    storage = np.dtype(np.float16)


class BF16Format(_FloatFormat):
    ggml_type = GGMLType.BF16
    storage = np.dtype(np.uint16)

    def _values(self, stored: np.ndarray) -> np.ndarray:
        return (stored.astype(np.uint32) << 16).view(np.float32)

    def quantize(self, values: np.ndarray) -> np.ndarray:
        bits = bf16_bits(values)
        return bits.view(np.uint8).reshape(*bits.shape[:-1], -1)
