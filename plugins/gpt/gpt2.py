"""GPT-2's forward pass in backend ops (runs unchanged on "cpu" and "cuda").

x = token_embd[tok] + position_embd[pos]; per layer: x += proj(MHA(layernorm(x))) (the file's fused
QKV weight as one product, its output split into Q, K, V); x += fc2(gelu_tanh(fc1(layernorm(x))));
logits = lm_head(layernorm(x)), the LM head tied to token_embd when the file has no output.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from plugins.gpt.config import Gpt2Config
from runtime.runner import MAX_TOKENS_PER_CALL, CausalLM, WeightLoader
from plugins.gpt.weights import block
from runtime.backend.base import Backend, Weight
from runtime.backend.kv_cache import KVCache
from runtime.stacked_linear import StackedLinear


@dataclass
class Layer:
    attn_norm: Any
    attn_norm_bias: Any
    qkv: StackedLinear
    o: Weight
    o_bias: Any
    ffn_norm: Any
    ffn_norm_bias: Any
    up: Weight
    up_bias: Any
    down: Weight
    down_bias: Any

    @classmethod
    def load(cls, w: WeightLoader, i: int) -> "Layer":
        n = lambda name: block(i, name)  # noqa: E731
        d = w.gguf.tensors[n("attn_qkv.weight")].shape[0] // 3
        qkv = StackedLinear.load(w.gguf, w.backend, [n("attn_qkv.weight")], [n("attn_qkv.bias")],
                                 n("attn_qkv.weight"), widths=(d, d, d))
        return cls(
            attn_norm=w.param(n("attn_norm.weight")), attn_norm_bias=w.param(n("attn_norm.bias")),
            qkv=qkv,
            o=w.weight(n("attn_output.weight")), o_bias=w.param(n("attn_output.bias")),
            ffn_norm=w.param(n("ffn_norm.weight")), ffn_norm_bias=w.param(n("ffn_norm.bias")),
            up=w.weight(n("ffn_up.weight")), up_bias=w.param(n("ffn_up.bias")),
            down=w.weight(n("ffn_down.weight")), down_bias=w.param(n("ffn_down.bias")),
        )


class Gpt2(CausalLM):
    def __init__(self, weights: WeightLoader, cfg: Gpt2Config, backend: Backend, *,
                 max_context: int | None = None, max_tokens_per_call: int = MAX_TOKENS_PER_CALL):
        context = min(cfg.context_length, max_context or cfg.context_length)
        super().__init__(backend, cfg.vocab_size, context, max_tokens_per_call)
        self.cfg = cfg
        self.token_embd = weights.weight("token_embd.weight")
        self.position_embd = weights.param("position_embd.weight")
        self.layers = [Layer.load(weights, i) for i in range(cfg.n_layers)]
        self.output_norm = weights.param("output_norm.weight")
        self.output_norm_bias = weights.param("output_norm.bias")
        self.lm_head = weights.weight("output.weight") if weights.has("output.weight") else self.token_embd
        self.scale = 1.0 / math.sqrt(cfg.head_dim)
        self.cache = KVCache(backend, cfg.n_heads, cfg.head_dim, [context] * cfg.n_layers)

    def _forward_chunk(self, ids, positions, want):
        b, eps = self.backend, self.cfg.norm_eps
        x = b.add_position_embedding(b.embedding(self.token_embd, ids), self.position_embd, positions)
        for i, layer in enumerate(self.layers):
            x = b.add(x, self._attention(i, layer, b.layer_norm(x, layer.attn_norm, layer.attn_norm_bias, eps),
                                         positions))
            x = b.add(x, self._mlp(layer, b.layer_norm(x, layer.ffn_norm, layer.ffn_norm_bias, eps)))
        x = self._head_input(x, ids.shape[0], want)
        if x is None:
            return None
        return b.linear(b.layer_norm(x, self.output_norm, self.output_norm_bias, eps), self.lm_head)

    def _attention(self, i: int, layer: Layer, h, positions):
        b, cfg, n = self.backend, self.cfg, h.shape[0]
        heads = (n, cfg.n_heads, cfg.head_dim)
        q, k, v = (b.reshape(t, heads) for t in layer.qkv(b, h))
        b.kv_store(self.cache.k[i], self.cache.v[i], k, v, positions)
        o = b.attention(q, self.cache.k[i], self.cache.v[i], positions, self.scale, 0, None)
        return b.linear(b.reshape(o, (n, cfg.hidden_size)), layer.o, layer.o_bias)

    def _mlp(self, layer: Layer, h):
        b = self.backend
        return b.linear(b.add_bias_gelu(b.linear(h, layer.up), layer.up_bias), layer.down, layer.down_bias)
