"""Synthetic models: valid GGUF files with random weights, deterministic by seed.

A preset names an architecture, its metadata and a policy that picks each tensor's ggml
type. The tensor list comes from the architecture adapter's own weight table, so a
synthetic file always holds exactly what the adapter reads. Data is produced one tensor
at a time while writing, so the 12 GB presets never sit in memory.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from runtime.architecture import WeightSpec
from runtime.ggml_types import GGMLType
from runtime.gguf.writer import GGUFWriter, TensorSpec
from runtime.plugins import Registry, registry

log = logging.getLogger(__name__)

TypePolicy = Callable[[WeightSpec], GGMLType]
WEIGHT_SCALE = 0.02


@dataclass(frozen=True)
class SynthPreset:
    """A named random-weight model. ``metadata`` holds every hyperparameter key."""

    name: str
    architecture: str
    metadata: dict[str, Any]
    type_policy: TypePolicy
    vocab_size: int
    vocab_flavour: str
    description: str = ""


def _is_vector(spec: WeightSpec) -> bool:
    return spec.name.endswith(".bias") or len(spec.shape) == 1 or "sinks" in spec.name


def fits(ggml_type: GGMLType, spec: WeightSpec) -> bool:
    """Whether a tensor's rows can be stored in ``ggml_type`` (row length a block multiple)."""
    from runtime.ggml_types import block_geometry

    return spec.shape[-1] % block_geometry(ggml_type)[0] == 0


def _values(spec: WeightSpec, ggml_type: GGMLType, rng: np.random.Generator, reg: Registry) -> np.ndarray:
    if spec.name.endswith("norm.weight"):
        return (1.0 + 0.1 * rng.standard_normal(spec.shape)).astype(np.float32)
    if "sinks" in spec.name:
        return rng.standard_normal(spec.shape).astype(np.float32)
    if ggml_type == GGMLType.F32:
        return (WEIGHT_SCALE * rng.standard_normal(spec.shape)).astype(np.float32)
    fmt = reg.quant_format(ggml_type)
    return fmt.random(rng, spec.shape, WEIGHT_SCALE)


def full_metadata(preset: SynthPreset, seed: int) -> dict[str, Any]:
    """Every metadata key the file will hold: provenance, hyperparameters and the synthetic vocabulary."""
    from runtime.tokenizer import synthetic_vocab_metadata

    return {"general.architecture": preset.architecture,
            "general.name": f"plugrt synthetic {preset.name}",
            "general.source.url": f"plugrt synth {preset.name} --seed {seed}",
            **preset.metadata,
            **synthetic_vocab_metadata(preset.vocab_size, preset.vocab_flavour)}


def tensor_specs(preset: SynthPreset, metadata: dict[str, Any], seed: int,
                 reg: Registry | None = None) -> list[TensorSpec]:
    """The tensors of ``preset``; each one's data is drawn from its own seeded generator."""
    reg = reg or registry()
    adapter = reg.adapter_class(preset.architecture)(preset.architecture)
    config = adapter.config(metadata)
    specs = []
    for index, w in enumerate(w for w in adapter.weight_table(config) if not w.optional):
        ggml_type = GGMLType.F32 if _is_vector(w) else preset.type_policy(w)

        def data(w=w, t=ggml_type, index=index):
            return _values(w, t, np.random.default_rng([seed, index]), reg)
        specs.append(TensorSpec(w.name, w.shape, ggml_type, data))
    return specs


def write_synthetic(preset: SynthPreset, out: str | Path, *, seed: int = 0, reg: Registry | None = None,
                    show_progress: bool | None = None) -> Path:
    """Write ``preset`` with random weights drawn from ``seed`` to ``out``."""
    out = Path(out)
    writer = GGUFWriter()
    metadata = full_metadata(preset, seed)
    for key, value in metadata.items():
        writer.add(key, value)
    for spec in tensor_specs(preset, metadata, seed, reg):
        writer.add_tensor(spec)
    log.info("synthesising %s (seed %d) -> %s", preset.name, seed, out)
    writer.write(out, show_progress=show_progress)
    return out
