"""Weight tables of the llama family (llama.cpp's tensor names) and the Q/K row reorder for llama.

llama.cpp's converter permutes the rows of llama's Q and K projections so that RoPE rotates
interleaved pairs (2i, 2i+1). :func:`neox_row_order` undoes that per head, giving Hugging Face's
row order, in which RoPE rotates the halves (i, i + dh/2): the same attention scores, computed by
the shared ``rope_neox`` op. Whole rows move, so quantized rows move with their blocks intact.
"""
from __future__ import annotations

import numpy as np

from plugins.llama.config import LlamaConfig
from runtime.architecture import WeightSpec


def block(i: int, name: str) -> str:
    return f"blk.{i}.{name}"


def llama_weight_table(cfg: LlamaConfig) -> list[WeightSpec]:
    d, f = cfg.hidden_size, cfg.ffn
    gemma = cfg.architecture == "gemma3"
    table = [WeightSpec(name="token_embd.weight", role="token_embedding", shape=(cfg.vocab_size, d))]
    for i in range(cfg.n_layers):
        rows = [("attn_norm.weight", "attn_norm", (d,)),
                ("attn_q.weight", "attn_q", (cfg.q_dim, d)),
                ("attn_k.weight", "attn_k", (cfg.kv_dim, d)),
                ("attn_v.weight", "attn_v", (cfg.kv_dim, d)),
                ("attn_output.weight", "attn_output", (d, cfg.q_dim)),
                ("ffn_norm.weight", "ffn_norm", (d,)),
                ("ffn_gate.weight", "ffn_gate", (f, d)),
                ("ffn_up.weight", "ffn_up", (f, d)),
                ("ffn_down.weight", "ffn_down", (d, f))]
        if cfg.architecture == "qwen2":
            rows += [("attn_q.bias", "attn_q_bias", (cfg.q_dim,)),
                     ("attn_k.bias", "attn_k_bias", (cfg.kv_dim,)),
                     ("attn_v.bias", "attn_v_bias", (cfg.kv_dim,))]
        if gemma:
            rows += [("attn_q_norm.weight", "attn_q_norm", (cfg.head_dim,)),
                     ("attn_k_norm.weight", "attn_k_norm", (cfg.head_dim,)),
                     ("post_attention_norm.weight", "attn_post_norm", (d,)),
                     ("post_ffw_norm.weight", "ffn_post_norm", (d,))]
        table += [WeightSpec(name=block(i, n), role=r, shape=s) for n, r, s in rows]
    table += [WeightSpec(name="output_norm.weight", role="output_norm", shape=(d,)),
              # absent = tied to token_embd (Gemma always, small Llama/Qwen2 models often)
              WeightSpec(name="output.weight", role="lm_head", shape=(cfg.vocab_size, d), optional=True)]
    if cfg.architecture == "llama":
        # Llama 3.1-style per-frequency RoPE divisors
        table.append(WeightSpec(name="rope_freqs.weight", role="rope_freq_factors", shape=(cfg.head_dim // 2,),
                                optional=True))
    return table


def neox_row_order(rows: np.ndarray, n_heads: int) -> np.ndarray:
    """Rows [n_heads * dh, ...] in llama.cpp's interleaved-RoPE order -> NeoX order (a copy)."""
    per_head = rows.shape[0] // n_heads
    grouped = rows.reshape(n_heads, per_head // 2, 2, *rows.shape[1:])
    return np.ascontiguousarray(grouped.swapaxes(1, 2).reshape(rows.shape))


def interleaved_row_order(rows: np.ndarray, n_heads: int) -> np.ndarray:
    """The inverse of :func:`neox_row_order` (what llama.cpp's converter does to HF weights)."""
    per_head = rows.shape[0] // n_heads
    grouped = rows.reshape(n_heads, 2, per_head // 2, *rows.shape[1:])
    return np.ascontiguousarray(grouped.swapaxes(1, 2).reshape(rows.shape))
