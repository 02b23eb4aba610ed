"""RoPE frequencies, with YaRN scaling, computed once per model and handed to ``rope_neox``.

YaRN (Peng et al. 2023) blends, per frequency i, the original ("extrapolated") inverse
frequency with one divided by ``factor`` ("interpolated"), using a linear ramp between two
correction dimensions derived from ``beta_fast`` and ``beta_slow``; cos/sin are scaled by
``0.1 ln(factor) + 1``. GPT-OSS defines the ramp on the exact correction dimensions
(``truncate=False``); llama.cpp floors/ceils them, which ``truncate=True`` reproduces.
"""
from __future__ import annotations

import math

import numpy as np

from plugins.gpt.config import RopeScaling


def correction_dim(n_rotations: float, head_dim: int, base: float, original_context: int) -> float:
    """The dimension index whose wavelength fits ``n_rotations`` times into ``original_context``."""
    return head_dim * math.log(original_context / (n_rotations * 2 * math.pi)) / (2 * math.log(base))


def correction_range(scaling: RopeScaling, head_dim: int, base: float) -> tuple[float, float]:
    low = correction_dim(scaling.beta_fast, head_dim, base, scaling.original_context_length)
    high = correction_dim(scaling.beta_slow, head_dim, base, scaling.original_context_length)
    if scaling.truncate:
        low, high = math.floor(low), math.ceil(high)
    return max(low, 0.0), min(high, head_dim - 1.0)


def rope_frequencies(head_dim: int, base: float, scaling: RopeScaling) -> tuple[np.ndarray, float]:
    """``(inv_freq float32 [head_dim/2], attn_factor)`` for NeoX-style RoPE."""
    inv_freq = base ** (-np.arange(0, head_dim, 2, dtype=np.float64) / head_dim)
    if scaling.type == "none":
        return inv_freq.astype(np.float32), 1.0
    low, high = correction_range(scaling, head_dim, base)
    span = max(high - low, 1e-3)  # a zero-width ramp would divide by zero
    ramp = np.clip((np.arange(head_dim // 2, dtype=np.float64) - low) / span, 0.0, 1.0)
    keep_original = 1.0 - ramp  # 1 for the high frequencies (i < low), 0 beyond ``high``
    inv_freq = inv_freq / scaling.factor * (1.0 - keep_original) + inv_freq * keep_original
    attn_factor = (0.1 * math.log(scaling.factor) + 1.0 if scaling.factor > 1 else 1.0) * scaling.attn_factor
    return inv_freq.astype(np.float32), attn_factor
