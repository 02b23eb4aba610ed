"""Q4_K: super-blocks of 256 weights in 144 bytes: fp16 d and dmin, eight 6-bit (scale, min) pairs
packed in 12 bytes, 128 bytes of 4-bit q; sub-block j (32 weights): w = (d * sc_j) * q - dmin * m_j."""
from __future__ import annotations

import math

import numpy as np

from plugins.quant_q4km.sources import cuda_source
from runtime.cuda.source import CudaSource
from runtime.ggml_types import GGMLType
from runtime.quant import QuantFormat, as_blocks, half_bytes, random_bytes


def unpack_scale_min(packed: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """12 packed bytes per block -> (scales, mins), each uint8 (n_blocks, 8) of 6-bit values.
    Bytes 0-3: scale 0-3 (low 6 bits) and the top 2 bits of scale 4-7; bytes 4-7 the same for the
    mins; bytes 8-11: low nibble = low 4 bits of scale 4-7, high nibble = those of min 4-7."""
    s, m, lo = packed[:, 0:4], packed[:, 4:8], packed[:, 8:12]
    sc = np.concatenate([s & 63, (lo & 15) | ((s >> 6) << 4)], axis=1)
    mn = np.concatenate([m & 63, (lo >> 4) | ((m >> 6) << 4)], axis=1)
    return sc, mn


def pack_scale_min(sc: np.ndarray, mn: np.ndarray) -> np.ndarray:
    """Inverse of :func:`unpack_scale_min`."""
    sc, mn = sc.astype(np.uint8), mn.astype(np.uint8)
    return np.concatenate([
        (sc[:, :4] & 63) | ((sc[:, 4:] >> 4) << 6),
        (mn[:, :4] & 63) | ((mn[:, 4:] >> 4) << 6),
        (sc[:, 4:] & 15) | ((mn[:, 4:] & 15) << 4),
    ], axis=1)


class Q4_KFormat(QuantFormat):
    ggml_type = GGMLType.Q4_K
    int8_activations = True
    device_alignment = 16  # the int8 products read a block's quants in 16-byte loads

    def dequantize(self, raw: np.ndarray) -> np.ndarray:
        blocks = as_blocks(raw, self.type_size)
        n = blocks.shape[0]
        d = blocks[:, 0:2].copy().view(np.float16).astype(np.float32)
        dmin = blocks[:, 2:4].copy().view(np.float16).astype(np.float32)
        sc, mn = unpack_scale_min(blocks[:, 4:16])
        scale = (d * sc.astype(np.float32))[:, :, None]
        offset = (dmin * mn.astype(np.float32))[:, :, None]
        qs = blocks[:, 16:].reshape(n, 4, 1, 32)
        q = np.concatenate([qs & 0x0F, qs >> 4], axis=2).reshape(n, 8, 32).astype(np.float32)
        return (scale * q - offset).reshape(*raw.shape[:-1], -1)

    def quantize(self, values: np.ndarray) -> np.ndarray:
        """A simple (not error-optimal) quantizer: per sub-block min/max, scales rounded to the grid."""
        values = np.asarray(values, dtype=np.float32)
        x = values.reshape(-1, 8, 32)
        n = x.shape[0]
        sub_min = -np.minimum(x.min(axis=2), 0)
        sub_scale = (x.max(axis=2) + sub_min) / 15
        d = (sub_scale.max(axis=1) / 63).astype(np.float16)
        dmin = (sub_min.max(axis=1) / 63).astype(np.float16)
        df, dminf = d.astype(np.float32)[:, None], dmin.astype(np.float32)[:, None]
        with np.errstate(divide="ignore", invalid="ignore"):
            sc = np.where(df > 0, np.ceil(sub_scale / df), 0).clip(0, 63)
            mn = np.where(dminf > 0, np.rint(sub_min / dminf), 0).clip(0, 63)
            step, offset = (df * sc)[:, :, None], (dminf * mn)[:, :, None]
            q = np.where(step > 0, np.rint((x + offset) / step), 0).clip(0, 15).astype(np.uint8)
        q = q.reshape(n, 4, 2, 32)
        qs = (q[:, :, 0] | (q[:, :, 1] << 4)).reshape(n, 128)
        out = np.concatenate([d.view(np.uint8).reshape(n, 2), dmin.view(np.uint8).reshape(n, 2),
                              pack_scale_min(sc, mn), qs], axis=1)
        return out.reshape(*values.shape[:-1], self.row_bytes(values.shape[-1]))

    def random(self, rng: np.random.Generator, shape: tuple[int, ...], scale: float = 0.02) -> np.ndarray:
        n_blocks = math.prod(shape) // self.block_size
        raw = random_bytes(rng, n_blocks * self.type_size).reshape(n_blocks, self.type_size)
        d = scale / 250 * rng.uniform(0.75, 1.25, n_blocks)
        raw[:, 0:2] = half_bytes(d)
        raw[:, 2:4] = half_bytes(d * 7.5)  # centres d*sc*q - dmin*m around zero on average
        return raw.reshape(*shape[:-1], self.row_bytes(shape[-1]))

    def cuda_sources(self) -> list[CudaSource]:
        return [cuda_source("q4_k")]
