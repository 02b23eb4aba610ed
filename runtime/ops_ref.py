"""NumPy twins of the backend ops (see the ops contract): float32, vectorized, written for clarity.

This module is the CPU backend's math and the reference every CUDA kernel in
``runtime/cuda/ops.py`` is tested against; names and argument order match the CUDA launchers.
"""
from __future__ import annotations

import numpy as np

_GELU_C = np.float32(np.sqrt(2.0 / np.pi))


def _f32(x) -> np.ndarray:
    return np.asarray(x, dtype=np.float32)


def rms_norm(x: np.ndarray, w: np.ndarray, eps: float) -> np.ndarray:
    """x * rsqrt(mean(x^2) + eps) * w over the last axis."""
    x = _f32(x)
    inv = 1.0 / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + np.float32(eps))
    return (x * inv * _f32(w)).astype(np.float32)


def layer_norm(x: np.ndarray, w: np.ndarray, b: np.ndarray, eps: float) -> np.ndarray:
    """(x - mean) * rsqrt(var + eps) * w + b over the last axis (biased variance, two reductions)."""
    x = _f32(x)
    centred = x - x.mean(axis=-1, keepdims=True)
    var = np.mean(centred * centred, axis=-1, keepdims=True)
    return (centred / np.sqrt(var + np.float32(eps)) * _f32(w) + _f32(b)).astype(np.float32)


def gelu_tanh(x: np.ndarray) -> np.ndarray:
    """GELU, tanh form: 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))."""
    x = _f32(x)
    return (0.5 * x * (1.0 + np.tanh(_GELU_C * (x + np.float32(0.044715) * x * x * x)))).astype(np.float32)


def add_bias_gelu(x: np.ndarray, b: np.ndarray) -> np.ndarray:
    """gelu_tanh(x + b): the bias of fc1 and the activation in one pass (GPT-2 FFN)."""
    return gelu_tanh(add_bias(x, b))


def add(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Residual add of two arrays of the same shape."""
    if np.shape(a) != np.shape(b):
        raise ValueError(f"add: shapes differ, {np.shape(a)} vs {np.shape(b)}")
    return (_f32(a) + _f32(b)).astype(np.float32)


def add_bias(x: np.ndarray, b: np.ndarray) -> np.ndarray:
    """x[..., d] + b[d]."""
    if np.shape(x)[-1:] != np.shape(b):
        raise ValueError(f"add_bias: bias shape {np.shape(b)} does not match last axis of {np.shape(x)}")
    return (_f32(x) + _f32(b)).astype(np.float32)


def split_columns(x: np.ndarray, widths: tuple[int, ...]) -> tuple[np.ndarray, ...]:
    """x[n, sum(widths)] cut into [n, widths[0]], [n, widths[1]], ... (one product's q, k, v)."""
    x = _f32(x)
    if sum(widths) != x.shape[-1]:
        raise ValueError(f"split_columns: widths {tuple(widths)} do not add up to {x.shape[-1]} columns")
    bounds = np.cumsum([0, *widths])
    return tuple(np.ascontiguousarray(x[:, a:b]) for a, b in zip(bounds[:-1], bounds[1:]))


def add_position_embedding(x: np.ndarray, table: np.ndarray, positions: np.ndarray) -> np.ndarray:
    """x[n, d] + table[positions[i]] (learned absolute positions, GPT-2)."""
    return (_f32(x) + _f32(table)[np.asarray(positions, dtype=np.int64)]).astype(np.float32)


def rope_neox(x: np.ndarray, positions: np.ndarray, inv_freq: np.ndarray, attn_factor: float) -> np.ndarray:
    """Rotary embedding with NeoX pairing (i, i + dh/2) on x[n, h, dh].

    angle = pos * inv_freq[i] (float32 product); cos and sin are scaled by ``attn_factor`` (YaRN's
    mscale; 1.0 without YaRN). YaRN's corrected ``inv_freq`` is computed by the caller.
    """
    x = _f32(x)
    half = x.shape[-1] // 2
    angle = _f32(positions)[:, None] * _f32(inv_freq)[None, :]  # [n, dh/2]
    cos = (np.cos(angle) * np.float32(attn_factor))[:, None, :]
    sin = (np.sin(angle) * np.float32(attn_factor))[:, None, :]
    x1, x2 = x[..., :half], x[..., half:]
    return np.concatenate([x1 * cos - x2 * sin, x2 * cos + x1 * sin], axis=-1).astype(np.float32)


def kv_store(k_cache: np.ndarray, v_cache: np.ndarray, k: np.ndarray, v: np.ndarray,
             positions: np.ndarray) -> None:
    """Write token i's keys and values into cache row positions[i] % cap, in place.

    The rows of one call must be distinct (n <= cap), as in a parallel kernel.
    """
    cap = k_cache.shape[0]
    if k.shape[0] > cap:
        raise ValueError(f"kv_store: {k.shape[0]} tokens do not fit a cache of {cap} rows")
    slots = np.asarray(positions, dtype=np.int64) % cap
    k_cache[slots] = k
    v_cache[slots] = v


def attention(q: np.ndarray, k_cache: np.ndarray, v_cache: np.ndarray, positions: np.ndarray,
              scale: float, window: int = 0, sinks: np.ndarray | None = None) -> np.ndarray:
    """Causal attention of q[n, hq, dh] over a (ring) KV cache [cap, hkv, dh].

    Query i at absolute position t = positions[i] sees keys p with max(0, t - window + 1) <= p <= t
    (window 0: all p <= t), stored at row p % cap. GQA: query head h reads kv head h // (hq / hkv).
    A sink logit sinks[h] joins the softmax denominator only.
    """
    q = _f32(q)
    n, hq, dh = q.shape
    cap, hkv, _ = k_cache.shape
    group = hq // hkv
    pos = np.asarray(positions, dtype=np.int64)
    first_visible = np.maximum(pos - window + 1, 0) if window else np.zeros_like(pos)
    key_pos = np.arange(int(first_visible.min()), int(pos.max()) + 1)
    keys = _f32(k_cache[key_pos % cap]).transpose(1, 2, 0)  # [hkv, dh, L]
    values = _f32(v_cache[key_pos % cap]).transpose(1, 0, 2)  # [hkv, L, dh]

    q_by_kv = q.reshape(n, hkv, group, dh).transpose(1, 2, 0, 3).reshape(hkv, group * n, dh)
    scores = (q_by_kv @ keys).reshape(hkv, group, n, -1)  # [hkv, g, n, L]; updated in place below
    scores *= np.float32(scale)
    hidden = (key_pos[None, :] < first_visible[:, None]) | (key_pos[None, :] > pos[:, None])  # [n, L]
    np.copyto(scores, -np.inf, where=hidden)

    peak = scores.max(axis=-1, keepdims=True)
    if sinks is not None:
        sink = _f32(sinks).reshape(hkv, group, 1, 1)
        peak = np.maximum(peak, sink)
    probs = np.exp(np.subtract(scores, peak, out=scores), out=scores)
    denom = probs.sum(axis=-1, keepdims=True)
    if sinks is not None:
        denom += np.exp(sink - peak)
    probs /= denom
    out = (probs.reshape(hkv, group * n, -1) @ values).reshape(hkv, group, n, dh).transpose(2, 0, 1, 3)
    return np.ascontiguousarray(out.reshape(n, hq, dh), dtype=np.float32)


def moe_router(logits: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Top-k experts per row (ties: lower index first), then softmax over the k selected logits."""
    logits = _f32(logits)
    ids = np.argsort(-logits, axis=-1, kind="stable")[:, :k]
    top = np.take_along_axis(logits, ids, axis=-1)
    weights = np.exp(top - top[:, :1])
    weights /= weights.sum(axis=-1, keepdims=True)
    return ids.astype(np.int32), weights.astype(np.float32)


def max_expert_tiles(n_pairs: int, n_experts: int, tile: int) -> int:
    """Most tiles of at most ``tile`` pairs of one expert that ``n_pairs`` pairs can need: the
    length of a routing table's tile array."""
    return (n_pairs + min(n_experts, n_pairs) * (tile - 1)) // tile


def expert_tiles(ids: np.ndarray, n_experts: int, tile: int) -> tuple[np.ndarray, np.ndarray]:
    """Routing table of the grouped expert products: the flat (token, slot) pairs with a valid id,
    sorted by expert (stable here; the CUDA kernel keeps no order within an expert), and tiles of at
    most ``tile`` pairs of one expert as rows (expert, first index into sorted, pairs, 0), in expert
    order, then zero rows up to ``max_expert_tiles``."""
    flat = np.asarray(ids, np.int64).reshape(-1)
    valid = np.flatnonzero((flat >= 0) & (flat < n_experts))
    order = valid[np.argsort(flat[valid], kind="stable")]
    counts = np.bincount(flat[valid], minlength=n_experts)
    firsts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    rows = [(e, first + s, min(tile, count - s), 0)
            for e, (first, count) in enumerate(zip(firsts, counts)) for s in range(0, count, tile)]
    tiles = np.zeros((max_expert_tiles(flat.size, n_experts, tile), 4), np.int32)
    tiles[:len(rows)] = np.array(rows, np.int32).reshape(-1, 4)
    return order.astype(np.int32), tiles


def swiglu_oai(gate: np.ndarray, up: np.ndarray, alpha: float = 1.702, limit: float = 7.0) -> np.ndarray:
    """GPT-OSS's clamped SwiGLU: (clamp(up, -limit, limit) + 1) * g * sigmoid(alpha * g), g = min(gate, limit)."""
    g = np.minimum(_f32(gate), np.float32(limit))
    u = np.clip(_f32(up), -np.float32(limit), np.float32(limit))
    return ((u + 1.0) * g / (1.0 + np.exp(-np.float32(alpha) * g))).astype(np.float32)


def moe_combine(y: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """sum_j weights[:, j] * y[:, j] for y[n, k, d]."""
    return np.einsum("nkd,nk->nd", _f32(y), _f32(weights)).astype(np.float32)


def argmax(logits: np.ndarray) -> np.ndarray:
    """Greedy token per row (ties: lower index)."""
    return np.argmax(_f32(logits), axis=-1).astype(np.int32)


def quantize_q8(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Activations for the int8 kernels: per 32 values of the last axis (a multiple of 32),
    d = max|x| / 127 rounded up to 22 significant bits (so that 1.5 * 2^23 * d is exact in float32),
    q = rint(x / d) as int8 (0 where d is 0); returns (q, ds) with ds[..., u] = (d, d * sum q) of
    unit u."""
    x = _f32(x)
    if x.shape[-1] % 32:
        raise ValueError(f"quantize_q8: last axis {x.shape[-1]} is not a multiple of 32")
    units = x.reshape(*x.shape[:-1], -1, 32)
    d = np.abs(units).max(axis=-1, keepdims=True) / np.float32(127)
    d = ((d.view(np.uint32) + np.uint32(3)) & np.uint32(~3 & 0xFFFFFFFF)).view(np.float32)
    with np.errstate(divide="ignore", invalid="ignore"):
        q = np.where(d > 0, np.rint(units / np.where(d > 0, d, 1)), 0).astype(np.int8)
    ds = np.concatenate([d, d * q.sum(axis=-1, keepdims=True, dtype=np.int32).astype(np.float32)], axis=-1)
    return q.reshape(x.shape), ds.astype(np.float32)


def dequantize_q8(q: np.ndarray, ds: np.ndarray) -> np.ndarray:
    """The values int8 activations stand for: q * d per unit of 32."""
    units = q.astype(np.float32).reshape(*q.shape[:-1], -1, 32)
    return (units * ds[..., :1]).reshape(q.shape).astype(np.float32)
