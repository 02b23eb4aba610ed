"""``plugrt convert``: Hugging Face checkpoints to GGUF, through converters that plugins register."""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from runtime.errors import ConfigError
from runtime.plugins import Registry, registry


@dataclass(frozen=True)
class Converter:
    """Serves the HF ``model_type`` strings in ``model_types``; ``convert(hf_dir, out, **options)``
    writes the GGUF (options: ``dtype`` for dense matrices, ``expert_type`` for MoE experts)."""

    model_types: tuple[str, ...]
    convert: Callable[..., Path]


def hf_model_type(hf_dir: str | Path) -> str:
    path = Path(hf_dir) / "config.json"
    try:
        model_type = json.loads(path.read_text()).get("model_type")
    except (OSError, ValueError) as e:
        raise ConfigError(f"{path}: cannot read the checkpoint's config: {e}") from e
    if not isinstance(model_type, str):
        raise ConfigError(f"{path}: no model_type")
    return model_type


def convert(hf_dir: str | Path, out: str | Path, *, reg: Registry | None = None, **options) -> Path:
    reg = reg or registry()
    model_type = hf_model_type(hf_dir)
    entry = reg.converters.get(model_type)
    if entry is None:
        known = ", ".join(sorted(reg.converters)) or "none"
        raise ConfigError(f"{hf_dir}: no plugin converts model_type {model_type!r}; convertible: {known}")
    return entry[0].convert(hf_dir, out, **options)
