"""The architecture adapter serving ``llama``, ``qwen2`` and ``gemma3`` GGUF files."""
from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from plugins.gpt.runner import MAX_TOKENS_PER_CALL, CausalLM, WeightLoader
from plugins.llama.config import ARCHITECTURES, LlamaConfig, llama_config
from plugins.llama.gemma3 import Gemma3
from plugins.llama.model import Llama
from plugins.llama.weights import llama_weight_table
from runtime.architecture import ArchitectureAdapter, WeightSpec
from runtime.backend import Backend, get_backend
from runtime.errors import ConfigError
from runtime.gguf.reader import GGUFFile


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

    def build(self, gguf: GGUFFile, config: BaseModel, backend: Backend | str, *,
              max_context: int | None = None, max_tokens_per_call: int = MAX_TOKENS_PER_CALL) -> CausalLM:
        """A runner on ``backend``. ``max_context`` caps the KV cache below the model's context."""
        if isinstance(backend, str):
            backend = get_backend(backend)
        self.check_weights(gguf, config)
        model = Gemma3 if config.architecture == "gemma3" else Llama
        return model(WeightLoader(gguf, backend), config, backend, max_context=max_context,
                     max_tokens_per_call=max_tokens_per_call)
