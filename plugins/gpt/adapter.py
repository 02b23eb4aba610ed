"""The architecture adapter serving ``gpt-oss`` and ``gpt2`` GGUF files."""
from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from plugins.gpt.config import Gpt2Config, GptOssConfig, gpt2_config, gpt_oss_config
from plugins.gpt.gpt2 import Gpt2
from plugins.gpt.gpt_oss import GptOss
from runtime.runner import MAX_TOKENS_PER_CALL, CausalLM, WeightLoader
from plugins.gpt.weights import gpt2_weight_table, gpt_oss_weight_table
from runtime.architecture import (ArchitectureAdapter, WeightSpec, attention_partials_bytes, expert_routing_bytes,
                                  int8_copy_bytes)
from runtime.backend import Backend, get_backend
from runtime.gguf.reader import GGUFFile

_CONFIG = {"gpt-oss": gpt_oss_config, "gpt2": gpt2_config}
_TABLE = {"gpt-oss": gpt_oss_weight_table, "gpt2": gpt2_weight_table}
_MODEL = {"gpt-oss": GptOss, "gpt2": Gpt2}
def _gpt_oss_workspace(cfg: GptOssConfig, n: int, logit_rows: int) -> int:
    """Peak live temporaries of GptOss._forward_chunk for n tokens, or logit_rows of them with every
    position's logits (float32, 4 bytes each value).

    Attention: x, its norm and the o projection (3 x hidden), q before and after RoPE and the
    attention output (3 x q width), k and v before and after RoPE (3 x kv width), plus the split-K
    partials. MoE: x and its norm, gate, up and the activation (3 x k x ffn), the down projection
    with its gathered bias rows and their sum (3 x k x hidden). Head: x, its norm, the logits.
    Each product's input may have an int8 copy (int8_copy_bytes) while it runs, the MoE block the
    routing table its expert products share (expert_routing_bytes).
    """
    h, q, kv, k = cfg.hidden_size, cfg.n_heads * cfg.head_dim, cfg.n_kv_heads * cfg.head_dim, cfg.n_experts_used
    attention = (n * (3 * h + 3 * q + 3 * kv) * 4 + attention_partials_bytes(cfg.head_dim)
                 + int8_copy_bytes(n * max(h, q)))
    moe = (n * (2 * h + 3 * k * cfg.expert_ffn + 3 * k * h + 2 * cfg.n_experts + 2 * k) * 4
           + int8_copy_bytes(n * max(h, k * cfg.expert_ffn)) + expert_routing_bytes(n * k, cfg.n_experts))
    head = (n * 2 * h + logit_rows * cfg.vocab_size) * 4
    return max(attention, moe, head) + n * 2 * 4  # + token ids and positions


def _gpt2_workspace(cfg: Gpt2Config, n: int, logit_rows: int) -> int:
    """Peak live temporaries of Gpt2._forward_chunk: attention holds x, its norm, q, k, v, the
    attention output and the projection (7 x hidden) plus partials; the MLP x, its norm, fc1 and
    its activation (2 x ffn) and fc2; the head x, its norm and the logits; plus an int8 copy of the
    widest product input."""
    h = cfg.hidden_size
    attention = n * 7 * h * 4 + attention_partials_bytes(cfg.head_dim) + int8_copy_bytes(n * h)
    mlp = n * (3 * h + 2 * cfg.ffn) * 4 + int8_copy_bytes(n * cfg.ffn)
    head = (n * 2 * h + logit_rows * cfg.vocab_size) * 4
    return max(attention, mlp, head) + n * 2 * 4


class GPTInferenceAdapter(ArchitectureAdapter):
    """GPT-OSS (MoE, RoPE/YaRN, sinks, sliding window) and GPT-2 (LayerNorm, GELU, learned positions)."""

    architectures = ("gpt-oss", "gpt2")

    def config(self, metadata: dict[str, Any]) -> BaseModel:
        return _CONFIG[self.architecture](metadata)

    def weight_table(self, config: BaseModel) -> list[WeightSpec]:
        return _TABLE[self.architecture](config)

    def workspace_bytes(self, config: BaseModel, context_length: int, max_tokens_per_call: int,
                        logit_rows: int) -> int:
        if isinstance(config, GptOssConfig):
            return _gpt_oss_workspace(config, max_tokens_per_call, logit_rows)
        return _gpt2_workspace(config, max_tokens_per_call, logit_rows)

    def float32_tensors(self, config: BaseModel) -> set[str]:
        """The 1-D tensors, and GPT-2's position table (added to activations as float32)."""
        names = super().float32_tensors(config)
        return names | {"position_embd.weight"} if isinstance(config, Gpt2Config) else names

    def build(self, gguf: GGUFFile, config: BaseModel, backend: Backend | str, *,
              max_context: int | None = None, max_tokens_per_call: int = MAX_TOKENS_PER_CALL) -> CausalLM:
        """A runner on ``backend``. ``max_context`` caps the KV cache below the model's context."""
        if isinstance(backend, str):
            backend = get_backend(backend)
        self.check_weights(gguf, config)
        return _MODEL[self.architecture](WeightLoader(gguf, backend), config, backend, max_context=max_context,
                                         max_tokens_per_call=max_tokens_per_call)
