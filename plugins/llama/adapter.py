"""The architecture adapter serving ``llama``, ``qwen2`` and ``gemma3`` GGUF files."""
from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from plugins.llama.config import ARCHITECTURES, LlamaConfig, llama_config
from plugins.llama.cuda_ops import WIDE_HEAD_DIMS
from plugins.llama.gemma3 import Gemma3
from plugins.llama.model import Llama
from plugins.llama.weights import llama_weight_table
from runtime.architecture import ArchitectureAdapter, WeightSpec, attention_partials_bytes, int8_copy_bytes
from runtime.backend import Backend, get_backend
from runtime.errors import ConfigError
from runtime.gguf.reader import GGUFFile
from runtime.runner import MAX_TOKENS_PER_CALL, CausalLM, WeightLoader


class LlamaFamilyAdapter(ArchitectureAdapter):
    """Llama, Qwen2 (q/k/v biases) and Gemma 3 (sandwich norms, q/k norms, GeGLU, local/global layers)."""

    architectures = ARCHITECTURES

    def config(self, metadata: dict[str, Any]) -> LlamaConfig:
        arch = metadata.get("general.architecture", self.architecture)
        if arch != self.architecture:
            raise ConfigError(f"metadata is for {arch!r}, this adapter serves {self.architecture!r}")
        return llama_config(metadata)

    def weight_table(self, config: BaseModel) -> list[WeightSpec]:
        return llama_weight_table(config)

    def workspace_bytes(self, config: LlamaConfig, context_length: int, max_tokens_per_call: int,
                        logit_rows: int) -> int:
        """Peak live float32 temporaries of one forward call of n tokens (logits for logit_rows of
        them). Attention: x, its norm and the
        output projection (3 x hidden), q before/after RoPE and norm plus the attention output (4 x q
        width), k and v before/after RoPE and norm (4 x kv width), plus the shared attention's split-K
        partials (the wide-head kernel has none). MLP: x, its norm, gate, up, the activation (3 x ffn)
        and down. Head: x, its norm, the logits. Plus an int8 copy of the widest product input."""
        n, h = max_tokens_per_call, config.hidden_size
        partials = 0 if config.head_dim in WIDE_HEAD_DIMS else attention_partials_bytes(config.head_dim)
        attention = (n * (3 * h + 4 * config.q_dim + 4 * config.kv_dim) * 4 + partials
                     + int8_copy_bytes(n * max(h, config.q_dim)))
        mlp = n * (3 * h + 3 * config.ffn) * 4 + int8_copy_bytes(n * config.ffn)
        head = (n * 2 * h + logit_rows * config.vocab_size) * 4
        return max(attention, mlp, head) + n * 2 * 4  # + token ids and positions

    def build(self, gguf: GGUFFile, config: BaseModel, backend: Backend | str, *,
              max_context: int | None = None, max_tokens_per_call: int = MAX_TOKENS_PER_CALL) -> CausalLM:
        """A runner on ``backend``. ``max_context`` caps the KV cache below the model's context."""
        if isinstance(backend, str):
            backend = get_backend(backend)
        self.check_weights(gguf, config)
        model = Gemma3 if config.architecture == "gemma3" else Llama
        return model(WeightLoader(gguf, backend), config, backend, max_context=max_context,
                     max_tokens_per_call=max_tokens_per_call)
