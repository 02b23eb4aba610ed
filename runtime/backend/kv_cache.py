"""Per-layer key/value caches, preallocated on the backend.

Full-attention layers hold one row per position of the context. Sliding-window layers hold a
ring of ``window + max_tokens_per_call`` rows: every key a query of the current call can see
(``window - 1`` before the call's first position, plus the call's own tokens) is still there
when the call's rows are written, so GPT-OSS's memory is dominated by its full layers.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from runtime.backend.base import Backend


def layer_capacity(window: int, context_length: int, max_tokens_per_call: int) -> int:
    """Rows a layer's cache needs; ``window`` 0 means full attention."""
    if window == 0:
        return context_length
    return min(window + max_tokens_per_call, context_length)


@dataclass
class KVCache:
    backend: Backend
    n_kv_heads: int
    head_dim: int
    capacities: list[int]
    k: list[Any] = field(init=False)
    v: list[Any] = field(init=False)

    def __post_init__(self) -> None:
        shape = lambda cap: (cap, self.n_kv_heads, self.head_dim)  # noqa: E731
        self.k = [self.backend.zeros(shape(c)) for c in self.capacities]
        self.v = [self.backend.zeros(shape(c)) for c in self.capacities]

    @property
    def nbytes(self) -> int:
        return 2 * 4 * self.n_kv_heads * self.head_dim * sum(self.capacities)
