"""The llama-family architecture plugin: ``llama``, ``qwen2`` and ``gemma3`` GGUF files, written in
backend ops plus a few ops of its own (gated activations, wide-head attention) with NumPy and CUDA
twins; and the default model, Gemma 3 270M (:mod:`plugins.llama.default_model`)."""
from __future__ import annotations

from plugins.llama.adapter import LlamaFamilyAdapter
from runtime.hookspecs import hookimpl


@hookimpl
def register_architectures(register):
    register(LlamaFamilyAdapter)


@hookimpl
def register_synthetic_presets(register):
    from plugins.llama.presets import PRESETS

    for preset in PRESETS:
        register(preset)


@hookimpl
def default_model_path():
    """Gemma 3 270M Q4_K_M from ``plugrt[demo]``, assembled into the user's cache on first use."""
    from plugins.llama.default_model import default_model_path as gemma_path

    return gemma_path()


__all__ = ["LlamaFamilyAdapter"]
