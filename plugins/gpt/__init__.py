"""The GPT architecture plugin: ``gpt-oss`` and ``gpt2`` GGUF files, one forward pass each,
written in backend ops; plus the HF checkpoint converter (:mod:`plugins.gpt.convert`)."""
from __future__ import annotations

from plugins.gpt.adapter import GPTInferenceAdapter
from plugins.gpt.convert import convert_hf
from plugins.gpt.presets import PRESETS
from runtime.convert import Converter
from plugins.gpt.weights import gpt2_weight_table, gpt_oss_weight_table
from runtime.hookspecs import hookimpl


@hookimpl
def register_architectures(register):
    register(GPTInferenceAdapter)


@hookimpl
def register_converters(register):
    register(Converter(("gpt_oss", "gpt2"), convert_hf))


@hookimpl
def register_synthetic_presets(register):
    for preset in PRESETS:
        register(preset)


__all__ = ["GPTInferenceAdapter", "gpt_oss_weight_table", "gpt2_weight_table"]
