"""The llama plugin's ops on a backend: its own twins (gated activations, scale, wide-head
attention) next to the shared ones, and the token table shared by embedding and LM head.

The plugin's ops exist as a NumPy twin (:mod:`plugins.llama.ops_ref`, the "cpu" backend) and a CUDA
launcher (:mod:`plugins.llama.cuda_ops`, the "cuda" backend); :class:`LlamaOps` picks by backend name.
"""
from __future__ import annotations

from typing import Any

from runtime.backend.base import Backend
from runtime.errors import BackendUnavailableError


class LlamaOps:
    def __init__(self, backend: Backend):
        self.backend = backend
        if backend.name == "cpu":
            from plugins.llama import ops_ref as impl

            self._wide_dims = None  # NumPy attention serves every head dim
        elif backend.name == "cuda":
            from plugins.llama import cuda_ops as impl

            self._wide_dims = impl.WIDE_HEAD_DIMS
        else:
            raise BackendUnavailableError(f"the llama plugin has no kernels for backend {backend.name!r}")
        self._impl = impl

    def swiglu(self, gate, up):
        return self._impl.swiglu(gate, up)

    def geglu(self, gate, up):
        return self._impl.geglu(gate, up)

    def scale(self, x, factor: float):
        return self._impl.scale(x, factor)

    def attention(self, q, k_cache, v_cache, positions, scale: float, window: int):
        """Causal GQA attention without sinks; wide heads (Gemma's 256) use the plugin's kernel."""
        if self._wide_dims is not None and q.shape[-1] in self._wide_dims:
            return self._impl.attention_wide(q, k_cache, v_cache, positions, scale, window)
        return self.backend.attention(q, k_cache, v_cache, positions, scale, window, None)


class TokenTable:
    """The token-embedding matrix, also the LM head when tied, or an untied LM head.

    On "cpu" it is dequantized once to float32 (a 262144-row Q8_0 table takes seconds to decode, too
    slow per step); on other backends it stays a quantized :class:`~runtime.backend.base.Weight`.
    """

    def __init__(self, backend: Backend, info, raw):
        self.backend = backend
        self._dense = backend.name == "cpu"
        self.table: Any = backend.param(info, raw) if self._dense else backend.weight(info, raw)

    def lookup(self, ids):
        """Rows ``ids[n]`` -> [n, d] float32."""
        return self.table[ids] if self._dense else self.backend.embedding(self.table, ids)

    def logits(self, x):
        """x[n, d] @ table^T -> [n, vocab]."""
        return x @ self.table.T if self._dense else self.backend.linear(x, self.table)
