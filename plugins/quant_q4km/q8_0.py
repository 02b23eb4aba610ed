"""Q8_0: 32 weights in 34 bytes: fp16 scale d, 32 int8 q; w = q * d."""
from __future__ import annotations

import math

import numpy as np
from gguf import quants

from plugins.quant_q4km.sources import cuda_source
from runtime.cuda.source import CudaSource
from runtime.ggml_types import GGMLType
from runtime.quant import QuantFormat, as_blocks, half_bytes, random_bytes


class Q8_0Format(QuantFormat):
    ggml_type = GGMLType.Q8_0
    int8_activations = True
    # Few instructions a byte: fewer, longer warps read as fast, and at two blocks an SM the expert
    # grids of gpt-oss-20b fill the SMs evenly. H200 (2026-11-29), graph-timed, full residency ->
    # these: 4096x2880 5.2 -> 4.4 us, 4 of 32 experts 5760x2880 21.6 -> 20.2, 2880x2880 11.7 -> 11.0.
    # Three, six or eight times fewer blocks than full were slower for the experts (uneven blocks
    # an SM, or too few warps).
    stream_blocks_per_sm = (4, 2)

    def dequantize(self, raw: np.ndarray) -> np.ndarray:
        blocks = as_blocks(raw, self.type_size)
        d = blocks[:, :2].copy().view(np.float16).astype(np.float32)
        q = blocks[:, 2:].view(np.int8).astype(np.float32)
        return (q * d).reshape(*raw.shape[:-1], -1)

    def quantize(self, values: np.ndarray) -> np.ndarray:
        return quants.quantize(np.asarray(values, dtype=np.float32), self.ggml_type)

    def random(self, rng: np.random.Generator, shape: tuple[int, ...], scale: float = 0.02) -> np.ndarray:
        n_blocks = math.prod(shape) // self.block_size
        raw = random_bytes(rng, n_blocks * self.type_size).reshape(n_blocks, self.type_size)
        # mean |q| of uniform int8 is 64
        raw[:, :2] = half_bytes(scale / 64 * rng.uniform(0.75, 1.25, n_blocks))
        return raw.reshape(*shape[:-1], self.row_bytes(shape[-1]))

    def cuda_sources(self) -> list[CudaSource]:
        return [cuda_source("q8_0")]
