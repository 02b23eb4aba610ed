"""NumPy twins of the llama plugin's own ops (the CPU path and the reference for kernels/llama_ops.cu).

The shared ops (runtime.ops_ref) have no gated activations, no scalar multiply and CUDA attention
only for head dims 64 and 128; Gemma 3's heads are 256 wide, hence ``attention_wide``.
"""
from __future__ import annotations

import numpy as np

from runtime import ops_ref


def _f32(x) -> np.ndarray:
    return np.asarray(x, dtype=np.float32)


def swiglu(gate: np.ndarray, up: np.ndarray) -> np.ndarray:
    """silu(gate) * up (Llama, Qwen2)."""
    gate, up = _f32(gate), _f32(up)
    return (gate / (1.0 + np.exp(-gate)) * up).astype(np.float32)


def geglu(gate: np.ndarray, up: np.ndarray) -> np.ndarray:
    """gelu_tanh(gate) * up (Gemma)."""
    return (ops_ref.gelu_tanh(gate) * _f32(up)).astype(np.float32)


def scale(x: np.ndarray, factor: float) -> np.ndarray:
    """x * factor (Gemma's embedding scale sqrt(hidden))."""
    return (_f32(x) * np.float32(factor)).astype(np.float32)


def attention_wide(q: np.ndarray, k_cache: np.ndarray, v_cache: np.ndarray, positions: np.ndarray,
                   scale: float, window: int = 0) -> np.ndarray:
    """``runtime.ops_ref.attention`` without sinks, for any head dim (a multiple of 32 on CUDA)."""
    return ops_ref.attention(q, k_cache, v_cache, positions, scale, window, None)
