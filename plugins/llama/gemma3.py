"""Gemma 3's forward pass in backend ops (runs unchanged on "cpu" and "cuda"), following llama.cpp.

x = token_embd[tok] * sqrt(hidden). Per layer, with RMSNorms whose stored weights already hold
Gemma's (1 + w) (llama.cpp's converter adds the 1, so they are used as they are):
  h = rmsnorm(x); q, k = per-head rmsnorm(q), rmsnorm(k); RoPE (NeoX) with base 10000 on the
  sliding-window layers and ``rope.freq_base`` (with linear scaling, if any) on the global ones;
  x += post_attention_norm(o(attention(q * 1/sqrt(key_length), k, v))), window on local layers;
  x += post_ffw_norm(down(gelu_tanh(gate(h')) * up(h'))) of h' = ffn_norm(x).
logits = token_embd^T (tied) of rmsnorm(x).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from runtime.runner import WeightLoader
from plugins.llama.config import LlamaConfig
from plugins.llama.model import FamilyModel, Mlp, inv_freq
from plugins.llama.weights import block
from runtime.backend.base import Backend


@dataclass
class Gemma3Norms:
    attn: Any
    q: Any
    k: Any
    attn_post: Any
    ffn_post: Any

    @classmethod
    def load(cls, w: WeightLoader, i: int) -> "Gemma3Norms":
        p = lambda name: w.param(block(i, name))  # noqa: E731
        return cls(attn=p("attn_norm.weight"), q=p("attn_q_norm.weight"), k=p("attn_k_norm.weight"),
                   attn_post=p("post_attention_norm.weight"), ffn_post=p("post_ffw_norm.weight"))


class Gemma3(FamilyModel):
    def __init__(self, weights: WeightLoader, cfg: LlamaConfig, backend: Backend, **kw):
        super().__init__(weights, cfg, backend, **kw)
        self.norms = [Gemma3Norms.load(weights, i) for i in range(cfg.n_layers)]
        self.mlp = [Mlp.load(weights, i) for i in range(cfg.n_layers)]
        self.embed_scale = math.sqrt(cfg.hidden_size)
        global_freq = backend.tensor(inv_freq(cfg.head_dim, cfg.rope_base, cfg.rope_linear_factor))
        local_freq = backend.tensor(inv_freq(cfg.head_dim, cfg.local_rope_base)) if cfg.sliding_window else None
        self.inv_freq = [local_freq if cfg.window(i) else global_freq for i in range(cfg.n_layers)]

    def _forward_chunk(self, ids, positions, want):
        b, eps, ops = self.backend, self.cfg.rms_eps, self.ops
        x = ops.scale(self.token_embd.lookup(ids), self.embed_scale)
        for i, (norm, mlp) in enumerate(zip(self.norms, self.mlp)):
            o = self.attention(i, b.rms_norm(x, norm.attn, eps), positions, self.inv_freq[i], (norm.q, norm.k))
            x = b.add(x, b.rms_norm(o, norm.attn_post, eps))
            h = b.rms_norm(x, mlp.norm, eps)
            f = b.linear(ops.geglu(b.linear(h, mlp.gate), b.linear(h, mlp.up)), mlp.down)
            x = b.add(x, b.rms_norm(f, norm.ffn_post, eps))
        return self.head(x, ids.shape[0], want)
