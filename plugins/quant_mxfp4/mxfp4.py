"""MXFP4 (ggml type 39): 32 weights in 17 bytes, an E8M0 exponent and 16 bytes of E2M1 nibbles."""
from __future__ import annotations

import math
from functools import lru_cache
from pathlib import Path

import numpy as np
from gguf import quants

from runtime.cuda.source import CudaSource
from runtime.ggml_types import GGMLType
from runtime.quant import QuantFormat, as_blocks, random_bytes

#: Twice the E2M1 value of each nibble (ggml's table).
KVALUES = np.array([0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12], dtype=np.float32)


def e8m0_to_fp32_half(e: np.ndarray) -> np.ndarray:
    """2^(e - 128) as float32, bit-exact with ggml_e8m0_to_fp32_half (denormal for e < 2)."""
    e = e.astype(np.uint32)
    bits = np.where(e < 2, np.uint32(0x00200000) << e, (e - np.uint32(1)) << np.uint32(23))
    return bits.astype(np.uint32).view(np.float32)


@lru_cache(maxsize=1)
def _source() -> CudaSource:
    return CudaSource.from_file(Path(__file__).with_name("mxfp4.cu"))


class MXFP4Format(QuantFormat):
    ggml_type = GGMLType.MXFP4
    int8_activations = True
    two_row_stream_items = True

    def dequantize(self, raw: np.ndarray) -> np.ndarray:
        blocks = as_blocks(raw, self.type_size)
        d = e8m0_to_fp32_half(blocks[:, :1])
        qs = blocks[:, 1:]
        nibbles = np.concatenate([qs & 0x0F, qs >> 4], axis=1)  # weights 0..15, then 16..31
        out = d * KVALUES[nibbles]
        return out.reshape(*raw.shape[:-1], -1)

    def quantize(self, values: np.ndarray) -> np.ndarray:
        return quants.quantize(np.asarray(values, dtype=np.float32), self.ggml_type)

    def random(self, rng: np.random.Generator, shape: tuple[int, ...], scale: float = 0.02) -> np.ndarray:
        n_blocks = math.prod(shape) // self.block_size
        raw = random_bytes(rng, n_blocks * self.type_size).reshape(n_blocks, self.type_size)
        # mean |E2M1 value doubled| is 4.5, so 2^(e-128) ~ scale / 4 gives magnitudes ~ scale
        e_mid = 128 + round(math.log2(scale)) - 2
        raw[:, 0] = (e_mid + rng.integers(-1, 2, size=n_blocks)).clip(2, 254).astype(np.uint8)
        return raw.reshape(*shape[:-1], self.row_bytes(shape[-1]))

    def cuda_sources(self) -> list[CudaSource]:
        return [_source()]
