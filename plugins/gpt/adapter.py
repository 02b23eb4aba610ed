"""The architecture adapter serving ``gpt-oss`` and ``gpt2`` GGUF files."""
from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from plugins.gpt.config import gpt2_config, gpt_oss_config
from plugins.gpt.gpt2 import Gpt2
from plugins.gpt.gpt_oss import GptOss
from plugins.gpt.runner import MAX_TOKENS_PER_CALL, CausalLM, WeightLoader
from plugins.gpt.weights import gpt2_weight_table, gpt_oss_weight_table
from runtime.architecture import ArchitectureAdapter, WeightSpec
from runtime.backend import Backend, get_backend
from runtime.gguf.reader import GGUFFile

_CONFIG = {"gpt-oss": gpt_oss_config, "gpt2": gpt2_config}
_TABLE = {"gpt-oss": gpt_oss_weight_table, "gpt2": gpt2_weight_table}
_MODEL = {"gpt-oss": GptOss, "gpt2": Gpt2}


class GPTInferenceAdapter(ArchitectureAdapter):
    """GPT-OSS (MoE, RoPE/YaRN, sinks, sliding window) and GPT-2 (LayerNorm, GELU, learned positions)."""

    architectures = ("gpt-oss", "gpt2")

    def config(self, metadata: dict[str, Any]) -> BaseModel:
        return _CONFIG[self.architecture](metadata)

    def weight_table(self, config: BaseModel) -> list[WeightSpec]:
        return _TABLE[self.architecture](config)

    def build(self, gguf: GGUFFile, config: BaseModel, backend: Backend | str, *,
              max_context: int | None = None, max_tokens_per_call: int = MAX_TOKENS_PER_CALL) -> CausalLM:
        """A runner on ``backend``. ``max_context`` caps the KV cache below the model's context."""
        if isinstance(backend, str):
            backend = get_backend(backend)
        self.check_weights(gguf, config)
        return _MODEL[self.architecture](WeightLoader(gguf, backend), config, backend, max_context=max_context,
                                         max_tokens_per_call=max_tokens_per_call)
