"""A minimal architecture plugin for plugrt, registered through the ``plugrt`` entry points."""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np
from pydantic import BaseModel, PositiveInt

from runtime.architecture import ArchitectureAdapter, WeightSpec, metadata_value
from runtime.backend import get_backend
from runtime.ggml_types import GGMLType
from runtime.hookspecs import hookimpl
from runtime.synth import SynthPreset

ARCH = "toy-bigram"


class ToyBigramConfig(BaseModel):
    vocab_size: PositiveInt
    hidden_size: PositiveInt
    context_length: PositiveInt


class ToyBigramRunner:
    """Each position's logits depend on its own token only, so there is no cache to keep."""

    def __init__(self, gguf, config: ToyBigramConfig, backend):
        self.backend = backend
        self.vocab_size, self.context_length = config.vocab_size, config.context_length
        self.embedding = backend.weight(gguf.tensors["token_embd.weight"], gguf.raw("token_embd.weight"))
        self.head = backend.weight(gguf.tensors["output.weight"], gguf.raw("output.weight"))

    def reset(self) -> None:
        pass

    def forward(self, token_ids: Sequence[int], *, logits_for: str = "all") -> np.ndarray:
        if logits_for == "last":
            token_ids = list(token_ids)[-1:]
        ids = self.backend.tensor(np.asarray(token_ids, dtype=np.int32))
        hidden = self.backend.embedding(self.embedding, ids)
        return self.backend.numpy(self.backend.linear(hidden, self.head))


class ToyBigramAdapter(ArchitectureAdapter):
    architectures = (ARCH,)

    def config(self, metadata: dict[str, Any]) -> ToyBigramConfig:
        return ToyBigramConfig(
            vocab_size=len(metadata_value(metadata, "tokenizer.ggml.tokens")),
            hidden_size=metadata_value(metadata, f"{ARCH}.embedding_length"),
            context_length=metadata_value(metadata, f"{ARCH}.context_length"))

    def weight_table(self, config: ToyBigramConfig) -> list[WeightSpec]:
        shape = (config.vocab_size, config.hidden_size)
        return [WeightSpec(name="token_embd.weight", role="token embedding", shape=shape),
                WeightSpec(name="output.weight", role="LM head", shape=shape)]

    def kv_cache_layout(self, config: ToyBigramConfig, context_length: int, max_tokens_per_call: int) -> list:
        """No KV cache (the memory planner counts none); weights and workspaces use the defaults."""
        return []

    def build(self, gguf, config: ToyBigramConfig, backend, *, max_context: int | None = None):
        backend = get_backend(backend) if isinstance(backend, str) else backend
        self.check_weights(gguf, config)
        return ToyBigramRunner(gguf, config, backend)


@hookimpl
def register_architectures(register):
    register(ToyBigramAdapter)


@hookimpl
def register_synthetic_presets(register):
    register(SynthPreset("toy-bigram-tiny", ARCH, {f"{ARCH}.embedding_length": 64, f"{ARCH}.context_length": 512},
                         lambda spec: GGMLType.Q8_0, vocab_size=512, vocab_flavour="gpt2",
                         description="the example plugin's bigram model"))
