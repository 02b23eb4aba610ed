"""Q6_K: super-blocks of 256 weights in 210 bytes: 128 bytes of low nibbles, 64 bytes of 2-bit
high parts, 16 int8 scales (one per 16 weights), fp16 d; w = (d * scale) * (q - 32)."""
from __future__ import annotations

import math

import numpy as np

from plugins.quant_q4km.sources import cuda_source
from runtime.cuda.source import CudaSource
from runtime.ggml_types import GGMLType
from runtime.quant import QuantFormat, as_blocks, half_bytes, random_bytes

_SHIFT2 = np.array([0, 2, 4, 6], dtype=np.uint8).reshape(1, 1, 4, 1)


class Q6_KFormat(QuantFormat):
    ggml_type = GGMLType.Q6_K

    def dequantize(self, raw: np.ndarray) -> np.ndarray:
        blocks = as_blocks(raw, self.type_size)
        n = blocks.shape[0]
        # half h of 128 weights: ql[h*64 + l] holds weight h*128 + l (low nibble) and + 64 (high);
        # qh[h*32 + l] holds the top 2 bits of weights h*128 + 32k + l in bits 2k..2k+1.
        ql = blocks[:, :128].reshape(n, 2, 1, 64)
        low = np.concatenate([ql & 0x0F, ql >> 4], axis=2).reshape(n, 2, 128)
        qh = blocks[:, 128:192].reshape(n, 2, 1, 32)
        high = ((qh >> _SHIFT2) & 3).reshape(n, 2, 128)
        q = (low | (high << 4)).astype(np.int8) - np.int8(32)
        scales = blocks[:, 192:208].view(np.int8).astype(np.float32)
        d = blocks[:, 208:210].copy().view(np.float16).astype(np.float32)
        step = (d * scales)[:, :, None]
        return (step * q.reshape(n, 16, 16).astype(np.float32)).reshape(*raw.shape[:-1], -1)

    def quantize(self, values: np.ndarray) -> np.ndarray:
        """A simple (not error-optimal) quantizer: symmetric per 16 weights, scales on an int8 grid."""
        values = np.asarray(values, dtype=np.float32)
        x = values.reshape(-1, 16, 16)
        n = x.shape[0]
        sub_scale = np.abs(x).max(axis=2) / 31
        d = (sub_scale.max(axis=1) / 127).astype(np.float16)
        df = d.astype(np.float32)[:, None]
        with np.errstate(divide="ignore", invalid="ignore"):
            sc = np.where(df > 0, np.ceil(sub_scale / df), 0).clip(0, 127).astype(np.int8)
            step = (df * sc)[:, :, None]
            q = np.where(step > 0, np.rint(x / step), 0).clip(-32, 31)
        q = (q + 32).astype(np.uint8).reshape(n, 2, 128)
        ql = (q[:, :, :64] & 15) | ((q[:, :, 64:] & 15) << 4)
        top = (q >> 4).reshape(n, 2, 4, 32)
        qh = top[:, :, 0] | (top[:, :, 1] << 2) | (top[:, :, 2] << 4) | (top[:, :, 3] << 6)
        out = np.concatenate([ql.reshape(n, 128), qh.reshape(n, 64), sc.view(np.uint8),
                              d.view(np.uint8).reshape(n, 2)], axis=1)
        return out.reshape(*values.shape[:-1], self.row_bytes(values.shape[-1]))

    def random(self, rng: np.random.Generator, shape: tuple[int, ...], scale: float = 0.02) -> np.ndarray:
        n_blocks = math.prod(shape) // self.block_size
        raw = random_bytes(rng, n_blocks * self.type_size).reshape(n_blocks, self.type_size)
        # mean |int8 scale| is 64 and mean |q - 32| is 16
        raw[:, 208:210] = half_bytes(scale / 1024 * rng.uniform(0.75, 1.25, n_blocks))
        return raw.reshape(*shape[:-1], self.row_bytes(shape[-1]))

    def cuda_sources(self) -> list[CudaSource]:
        return [cuda_source("q6_k")]
