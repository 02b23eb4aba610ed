"""GPT-OSS's forward pass in backend ops (runs unchanged on "cpu" and "cuda").

x = embed(tokens); per layer: h = x + attn(rmsnorm(x)); x = h + moe(rmsnorm(h));
logits = lm_head(rmsnorm(x)). Attention: biased q/k/v/o, NeoX RoPE with YaRN, GQA, learned
per-head sink logits, a sliding window on alternate layers. MoE: router top-k then softmax,
clamped SwiGLU experts with biases, weighted sum.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from plugins.gpt.config import GptOssConfig
from plugins.gpt.rope import rope_frequencies
from runtime.runner import MAX_TOKENS_PER_CALL, CausalLM, WeightLoader
from plugins.gpt.weights import block
from runtime.backend.base import Backend, Weight
from runtime.backend.kv_cache import KVCache, layer_capacity
from runtime.stacked_linear import StackedLinear


@dataclass
class Layer:
    attn_norm: Any
    qkv: StackedLinear
    o: Weight
    o_bias: Any
    sinks: Any
    ffn_norm: Any
    router: Weight
    router_bias: Any
    gate: Weight
    gate_bias: Weight
    up: Weight
    up_bias: Weight
    down: Weight
    down_bias: Weight
    window: int

    @classmethod
    def load(cls, w: WeightLoader, i: int, window: int) -> "Layer":
        n = lambda name: block(i, name)  # noqa: E731
        return cls(
            attn_norm=w.param(n("attn_norm.weight")),
            qkv=StackedLinear.load(w.gguf, w.backend, [n(f"attn_{p}.weight") for p in "qkv"],
                                   [n(f"attn_{p}.bias") for p in "qkv"], n("attn_qkv.weight")),
            o=w.weight(n("attn_output.weight")), o_bias=w.param(n("attn_output.bias")),
            sinks=w.param(n("attn_sinks.weight")),
            ffn_norm=w.param(n("post_attention_norm.weight")),
            router=w.weight(n("ffn_gate_inp.weight")), router_bias=w.param(n("ffn_gate_inp.bias")),
            gate=w.weight(n("ffn_gate_exps.weight")), gate_bias=w.weight(n("ffn_gate_exps.bias")),
            up=w.weight(n("ffn_up_exps.weight")), up_bias=w.weight(n("ffn_up_exps.bias")),
            down=w.weight(n("ffn_down_exps.weight")), down_bias=w.weight(n("ffn_down_exps.bias")),
            window=window,
        )


class GptOss(CausalLM):
    def __init__(self, weights: WeightLoader, cfg: GptOssConfig, backend: Backend, *,
                 max_context: int | None = None, max_tokens_per_call: int = MAX_TOKENS_PER_CALL):
        context = min(cfg.context_length, max_context or cfg.context_length)
        super().__init__(backend, cfg.vocab_size, context, max_tokens_per_call)
        self.cfg = cfg
        self.token_embd = weights.weight("token_embd.weight")
        self.layers = [Layer.load(weights, i, cfg.window(i)) for i in range(cfg.n_layers)]
        self.output_norm = weights.param("output_norm.weight")
        self.lm_head = weights.weight("output.weight")
        inv_freq, self.attn_factor = rope_frequencies(cfg.head_dim, cfg.rope_base, cfg.rope_scaling)
        self.inv_freq = backend.tensor(inv_freq)
        self.scale = 1.0 / math.sqrt(cfg.head_dim)
        self.cache = KVCache(backend, cfg.n_kv_heads, cfg.head_dim,
                             [layer_capacity(layer.window, context, max_tokens_per_call) for layer in self.layers])

    def _forward_chunk(self, ids, positions, want):
        b, eps = self.backend, self.cfg.rms_eps
        x = b.embedding(self.token_embd, ids)
        h = b.rms_norm(x, self.layers[0].attn_norm, eps)
        # each residual add runs with the norm that follows it (the next layer's, then the output norm)
        next_norms = [layer.attn_norm for layer in self.layers[1:]] + [self.output_norm]
        for i, (layer, next_norm) in enumerate(zip(self.layers, next_norms)):
            x, h = b.add_rms_norm(x, self._attention(i, layer, h, positions), layer.ffn_norm, eps)
            x, h = b.add_rms_norm(x, self._moe(layer, h), next_norm, eps)
        h = self._head_input(h, ids.shape[0], want)
        return None if h is None else b.linear(h, self.lm_head)

    def _attention(self, i: int, layer: Layer, h, positions):
        b, cfg, n = self.backend, self.cfg, h.shape[0]
        q, k, v = layer.qkv(b, h)
        q = b.reshape(q, (n, cfg.n_heads, cfg.head_dim))
        k = b.reshape(k, (n, cfg.n_kv_heads, cfg.head_dim))
        v = b.reshape(v, (n, cfg.n_kv_heads, cfg.head_dim))
        q = b.rope_neox(q, positions, self.inv_freq, self.attn_factor)
        k = b.rope_neox(k, positions, self.inv_freq, self.attn_factor)
        b.kv_store(self.cache.k[i], self.cache.v[i], k, v, positions)
        o = b.attention(q, self.cache.k[i], self.cache.v[i], positions, self.scale, layer.window, layer.sinks)
        return b.linear(b.reshape(o, (n, cfg.n_heads * cfg.head_dim)), layer.o, layer.o_bias)

    def _moe(self, layer: Layer, h):
        b, cfg, n = self.backend, self.cfg, h.shape[0]
        ids, weights = b.moe_router(b.linear(h, layer.router, layer.router_bias), cfg.n_experts_used)
        h = b.reshape(h, (n, 1, cfg.hidden_size))
        act = b.linear_experts_swiglu_oai(h, layer.gate, layer.up, ids, layer.gate_bias, layer.up_bias,
                                          cfg.swiglu_alpha, cfg.swiglu_limit)
        return b.moe_combine(b.linear_experts(act, layer.down, ids, layer.down_bias), weights)
