"""Q5_0: 32 weights in 22 bytes: fp16 scale d, 32 high bits, 16 bytes of low nibbles;
w = (q - 16) * d with q = low | high << 4."""
from __future__ import annotations

import math

import numpy as np
from gguf import quants

from plugins.quant_q4km.sources import cuda_source
from runtime.cuda.source import CudaSource
from runtime.ggml_types import GGMLType
from runtime.quant import QuantFormat, as_blocks, half_bytes, random_bytes

_BIT = np.arange(32, dtype=np.uint32)


class Q5_0Format(QuantFormat):
    ggml_type = GGMLType.Q5_0
    int8_activations = True
    # One matrix: half the blocks, two rows a warp (H200, 2026-11-29: 4096x2880 4.7 -> 3.8 us);
    # expert products stay at full residency (4 of 32 x 5760x2880 at two blocks an SM: 16.7 -> 20.2).
    stream_blocks_per_sm = (4, 8)

    def dequantize(self, raw: np.ndarray) -> np.ndarray:
        blocks = as_blocks(raw, self.type_size)
        d = blocks[:, :2].copy().view(np.float16).astype(np.float32)
        qh = blocks[:, 2:6].copy().view(np.uint32)
        qs = blocks[:, 6:]
        low = np.concatenate([qs & 0x0F, qs >> 4], axis=1)  # weights 0..15, then 16..31
        high = ((qh >> _BIT) & 1).astype(np.uint8)
        q = (low | (high << 4)).astype(np.int8) - np.int8(16)
        return (d * q.astype(np.float32)).reshape(*raw.shape[:-1], -1)

    def quantize(self, values: np.ndarray) -> np.ndarray:
        return quants.quantize(np.asarray(values, dtype=np.float32), self.ggml_type)

    def random(self, rng: np.random.Generator, shape: tuple[int, ...], scale: float = 0.02) -> np.ndarray:
        n_blocks = math.prod(shape) // self.block_size
        raw = random_bytes(rng, n_blocks * self.type_size).reshape(n_blocks, self.type_size)
        # mean |q - 16| of uniform 5-bit q is 8
        raw[:, :2] = half_bytes(scale / 8 * rng.uniform(0.75, 1.25, n_blocks))
        return raw.reshape(*shape[:-1], self.row_bytes(shape[-1]))

    def cuda_sources(self) -> list[CudaSource]:
        return [cuda_source("q5_0")]
