"""Weight tables: every GGUF tensor the GPT models read, with its role and NumPy-order shape.

Names follow llama.cpp (gguf-py's TENSOR_NAMES for GPT_OSS and GPT2, with the ``.weight`` /
``.bias`` suffixes its converter writes). ``runtime.synth`` and ``plugins.gpt.convert`` both
write exactly these tables, so a file that passes :meth:`ArchitectureAdapter.check_weights`
holds everything the forward pass reads.
"""
from __future__ import annotations

from runtime.architecture import WeightSpec
from plugins.gpt.config import Gpt2Config, GptOssConfig


def block(i: int, name: str) -> str:
    return f"blk.{i}.{name}"


def gpt_oss_weight_table(cfg: GptOssConfig) -> list[WeightSpec]:
    d, q_dim, kv_dim = cfg.hidden_size, cfg.n_heads * cfg.head_dim, cfg.n_kv_heads * cfg.head_dim
    E, f = cfg.n_experts, cfg.expert_ffn
    table = [WeightSpec(name="token_embd.weight", role="token_embedding", shape=(cfg.vocab_size, d))]
    for i in range(cfg.n_layers):
        rows = [
            ("attn_norm.weight", "attn_norm", (d,)),
            ("attn_q.weight", "attn_q", (q_dim, d)), ("attn_q.bias", "attn_q_bias", (q_dim,)),
            ("attn_k.weight", "attn_k", (kv_dim, d)), ("attn_k.bias", "attn_k_bias", (kv_dim,)),
            ("attn_v.weight", "attn_v", (kv_dim, d)), ("attn_v.bias", "attn_v_bias", (kv_dim,)),
            ("attn_output.weight", "attn_output", (d, q_dim)), ("attn_output.bias", "attn_output_bias", (d,)),
            ("attn_sinks.weight", "attn_sinks", (cfg.n_heads,)),
            ("post_attention_norm.weight", "ffn_norm", (d,)),
            ("ffn_gate_inp.weight", "router", (E, d)), ("ffn_gate_inp.bias", "router_bias", (E,)),
            ("ffn_gate_exps.weight", "expert_gate", (E, f, d)), ("ffn_gate_exps.bias", "expert_gate_bias", (E, f)),
            ("ffn_up_exps.weight", "expert_up", (E, f, d)), ("ffn_up_exps.bias", "expert_up_bias", (E, f)),
            ("ffn_down_exps.weight", "expert_down", (E, d, f)), ("ffn_down_exps.bias", "expert_down_bias", (E, d)),
        ]
        table += [WeightSpec(name=block(i, n), role=r, shape=s) for n, r, s in rows]
    table += [WeightSpec(name="output_norm.weight", role="output_norm", shape=(d,)),
              WeightSpec(name="output.weight", role="lm_head", shape=(cfg.vocab_size, d))]
    return table


def gpt2_weight_table(cfg: Gpt2Config) -> list[WeightSpec]:
    d, f = cfg.hidden_size, cfg.ffn
    table = [WeightSpec(name="token_embd.weight", role="token_embedding", shape=(cfg.vocab_size, d)),
             WeightSpec(name="position_embd.weight", role="position_embedding", shape=(cfg.context_length, d))]
    for i in range(cfg.n_layers):
        rows = [
            ("attn_norm.weight", "attn_norm", (d,)), ("attn_norm.bias", "attn_norm_bias", (d,)),
            ("attn_qkv.weight", "attn_qkv", (3 * d, d)), ("attn_qkv.bias", "attn_qkv_bias", (3 * d,)),
            ("attn_output.weight", "attn_output", (d, d)), ("attn_output.bias", "attn_output_bias", (d,)),
            ("ffn_norm.weight", "ffn_norm", (d,)), ("ffn_norm.bias", "ffn_norm_bias", (d,)),
            ("ffn_up.weight", "ffn_up", (f, d)), ("ffn_up.bias", "ffn_up_bias", (f,)),
            ("ffn_down.weight", "ffn_down", (d, f)), ("ffn_down.bias", "ffn_down_bias", (d,)),
        ]
        table += [WeightSpec(name=block(i, n), role=r, shape=s) for n, r, s in rows]
    table += [WeightSpec(name="output_norm.weight", role="output_norm", shape=(d,)),
              WeightSpec(name="output_norm.bias", role="output_norm_bias", shape=(d,)),
              # absent = tied to token_embd (GPT-2's own checkpoints tie them)
              WeightSpec(name="output.weight", role="lm_head", shape=(cfg.vocab_size, d), optional=True)]
    return table


def is_vector(spec: WeightSpec) -> bool:
    """Tensors the converter always stores as F32: norms, biases, sinks and the MoE router."""
    return len(spec.shape) == 1 or spec.name.endswith(".bias") or spec.role == "router"
