"""Llama and Qwen2's forward pass in backend ops (runs unchanged on "cpu" and "cuda").

x = token_embd[tok]; per layer: x += o(attention(rope(q), rope(k), v)) of rmsnorm(x), with GQA and
(Qwen2) q/k/v biases; x += down(silu(gate(h)) * up(h)) of h = rmsnorm(x); logits = head(rmsnorm(x)),
the head tied to token_embd when the file has no ``output.weight``. RoPE is NeoX-paired: llama's
Q/K rows are reordered once at load (see :func:`plugins.llama.weights.neox_row_order`).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from runtime.runner import MAX_TOKENS_PER_CALL, CausalLM, WeightLoader
from plugins.llama.config import LlamaConfig
from plugins.llama.ops import LlamaOps, TokenTable
from plugins.llama.weights import block, neox_row_order
from runtime.backend.base import Backend, Weight
from runtime.backend.kv_cache import KVCache, layer_capacity


def inv_freq(head_dim: int, base: float, divisor: float | np.ndarray = 1.0) -> np.ndarray:
    """RoPE inverse frequencies base^(-2i/dh), divided by a linear-scaling factor or per-frequency factors."""
    freq = base ** (-np.arange(0, head_dim, 2, dtype=np.float64) / head_dim)
    return (freq / np.asarray(divisor, dtype=np.float64)).astype(np.float32)


@dataclass
class Attention:
    """Projections of one attention block; Q/K rows already in NeoX order."""

    q: Weight
    k: Weight
    v: Weight
    o: Weight
    q_bias: Any = None
    k_bias: Any = None
    v_bias: Any = None

    @classmethod
    def load(cls, w: WeightLoader, cfg: LlamaConfig, i: int) -> "Attention":
        n = lambda name: block(i, name)  # noqa: E731
        q_k = {}
        for name, heads in (("attn_q", cfg.n_heads), ("attn_k", cfg.n_kv_heads)):
            info, raw = w.gguf.tensors[n(f"{name}.weight")], w.gguf.raw(n(f"{name}.weight"))
            if cfg.rope_interleaved:
                raw = neox_row_order(np.asarray(raw).reshape(info.shape[0], -1), heads)
            q_k[name] = w.backend.weight(info, raw)
        biases = {}
        if cfg.architecture == "qwen2":
            biases = dict(q_bias=w.param(n("attn_q.bias")), k_bias=w.param(n("attn_k.bias")),
                          v_bias=w.param(n("attn_v.bias")))
        return cls(q=q_k["attn_q"], k=q_k["attn_k"], v=w.weight(n("attn_v.weight")),
                   o=w.weight(n("attn_output.weight")), **biases)


def kv_cache(backend: Backend, cfg: LlamaConfig, context: int, max_tokens_per_call: int) -> KVCache:
    capacities = [layer_capacity(cfg.window(i), context, max_tokens_per_call) for i in range(cfg.n_layers)]
    return KVCache(backend, cfg.n_kv_heads, cfg.head_dim, capacities)


def output_table(w: WeightLoader, embedding: TokenTable) -> TokenTable:
    """The LM head: ``output.weight`` when present, else the token embedding (tied)."""
    if not w.has("output.weight"):
        return embedding
    return TokenTable(w.backend, w.gguf.tensors["output.weight"], w.gguf.raw("output.weight"))


class FamilyModel(CausalLM):
    """What every model of the family shares: token tables, KV cache, attention with RoPE."""

    def __init__(self, weights: WeightLoader, cfg: LlamaConfig, backend: Backend, *,
                 max_context: int | None = None, max_tokens_per_call: int = MAX_TOKENS_PER_CALL):
        context = min(cfg.context_length, max_context or cfg.context_length)
        super().__init__(backend, cfg.vocab_size, context, max_tokens_per_call)
        self.cfg = cfg
        self.ops = LlamaOps(backend)
        gguf = weights.gguf
        self.token_embd = TokenTable(backend, gguf.tensors["token_embd.weight"], gguf.raw("token_embd.weight"))
        self.lm_head = output_table(weights, self.token_embd)
        self.output_norm = weights.param("output_norm.weight")
        self.attn = [Attention.load(weights, cfg, i) for i in range(cfg.n_layers)]
        self.cache = kv_cache(backend, cfg, context, max_tokens_per_call)

    def attention(self, i: int, h, positions, inv_freq_of_layer, qk_norm=None):
        """o(attention) of the normed input ``h[n, d]``; ``qk_norm`` = (q_norm, k_norm) per-head weights."""
        b, cfg, a, n = self.backend, self.cfg, self.attn[i], h.shape[0]
        q = b.linear(h, a.q, a.q_bias)
        k = b.linear(h, a.k, a.k_bias)
        v = b.reshape(b.linear(h, a.v, a.v_bias), (n, cfg.n_kv_heads, cfg.head_dim))
        if qk_norm is not None:
            q = b.rms_norm(b.reshape(q, (n * cfg.n_heads, cfg.head_dim)), qk_norm[0], cfg.rms_eps)
            k = b.rms_norm(b.reshape(k, (n * cfg.n_kv_heads, cfg.head_dim)), qk_norm[1], cfg.rms_eps)
        q = b.rope_neox(b.reshape(q, (n, cfg.n_heads, cfg.head_dim)), positions, inv_freq_of_layer, 1.0)
        k = b.rope_neox(b.reshape(k, (n, cfg.n_kv_heads, cfg.head_dim)), positions, inv_freq_of_layer, 1.0)
        b.kv_store(self.cache.k[i], self.cache.v[i], k, v, positions)
        o = self.ops.attention(q, self.cache.k[i], self.cache.v[i], positions, cfg.attn_scale, cfg.window(i))
        return b.linear(b.reshape(o, (n, cfg.q_dim)), a.o)

    def head(self, x, n: int, want: str):
        x = self._head_input(x, n, want)
        if x is None:
            return None
        return self.lm_head.logits(self.backend.rms_norm(x, self.output_norm, self.cfg.rms_eps))


@dataclass
class Mlp:
    norm: Any
    gate: Weight
    up: Weight
    down: Weight

    @classmethod
    def load(cls, w: WeightLoader, i: int) -> "Mlp":
        n = lambda name: block(i, name)  # noqa: E731
        return cls(norm=w.param(n("ffn_norm.weight")), gate=w.weight(n("ffn_gate.weight")),
                   up=w.weight(n("ffn_up.weight")), down=w.weight(n("ffn_down.weight")))


class Llama(FamilyModel):
    """``llama`` and ``qwen2``."""

    def __init__(self, weights: WeightLoader, cfg: LlamaConfig, backend: Backend, **kw):
        super().__init__(weights, cfg, backend, **kw)
        self.attn_norm = [weights.param(block(i, "attn_norm.weight")) for i in range(cfg.n_layers)]
        self.mlp = [Mlp.load(weights, i) for i in range(cfg.n_layers)]
        divisor: Any = cfg.rope_linear_factor
        if weights.has("rope_freqs.weight"):
            info = weights.gguf.tensors["rope_freqs.weight"]
            fmt = backend.format(info)
            divisor = divisor * fmt.dequantize(np.asarray(weights.gguf.raw("rope_freqs.weight")).reshape(1, -1))[0]
        self.inv_freq = backend.tensor(inv_freq(cfg.head_dim, cfg.rope_base, divisor))

    def _forward_chunk(self, ids, positions, want):
        b, eps = self.backend, self.cfg.rms_eps
        x = self.token_embd.lookup(ids)
        for i, mlp in enumerate(self.mlp):
            x = b.add(x, self.attention(i, b.rms_norm(x, self.attn_norm[i], eps), positions, self.inv_freq))
            h = b.rms_norm(x, mlp.norm, eps)
            x = b.add(x, b.linear(self.ops.swiglu(b.linear(h, mlp.gate), b.linear(h, mlp.up)), mlp.down))
        return self.head(x, ids.shape[0], want)

