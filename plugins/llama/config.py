"""Hyperparameters of the llama family (``llama``, ``qwen2``, ``gemma3``) from GGUF metadata.

Key names are llama.cpp's. Facts GGUF files do not carry are llama.cpp's hard-coded choices:
RoPE pairing per architecture (llama: interleaved pairs, qwen2 and gemma3: NeoX halves), and for
gemma3 the local-layer RoPE base 10000, the sliding-window pattern "5 local, then 1 global" and the
query scale 1/sqrt(key_length).
"""
from __future__ import annotations

import math
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError, model_validator

from runtime.architecture import metadata_value, metadata_vocab_size
from runtime.errors import ConfigError

ARCHITECTURES = ("llama", "qwen2", "gemma3")

#: gemma3: every ``GEMMA3_SWA_PERIOD``-th layer is global, the others slide (llama.cpp's set_swa_pattern(6)).
GEMMA3_SWA_PERIOD = 6
#: gemma3's local layers use this RoPE base whatever ``rope.freq_base`` says (llama.cpp: rope_freq_base_train_swa).
GEMMA3_LOCAL_ROPE_BASE = 10000.0


class LlamaConfig(BaseModel):
    """One config for the family; gemma3-only features are off for llama and qwen2."""

    model_config = ConfigDict(frozen=True)

    architecture: Literal["llama", "qwen2", "gemma3"]
    vocab_size: int
    context_length: int
    hidden_size: int
    n_layers: int
    n_heads: int
    n_kv_heads: int
    head_dim: int
    ffn: int
    rms_eps: float
    rope_base: float
    #: divides every RoPE frequency of the global layers (``rope.scaling.type = linear``)
    rope_linear_factor: float = 1.0
    #: llama stores Q/K rows for interleaved RoPE pairs; they are reordered to NeoX halves at load
    rope_interleaved: bool = False
    attn_scale: float
    #: gemma3: tokens attend within this window on sliding layers (0 = no sliding layers)
    sliding_window: int = 0
    sliding_layers: tuple[bool, ...] = ()
    local_rope_base: float = 0.0

    @model_validator(mode="after")
    def _check(self) -> "LlamaConfig":
        for name in ("vocab_size", "context_length", "hidden_size", "n_layers", "n_heads", "n_kv_heads",
                     "head_dim", "ffn"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
        if self.n_heads % self.n_kv_heads:
            raise ValueError(f"head_count {self.n_heads} is not a multiple of head_count_kv {self.n_kv_heads}")
        if self.head_dim % 2:
            raise ValueError(f"key_length {self.head_dim} must be even for RoPE")
        if self.sliding_layers and len(self.sliding_layers) != self.n_layers:
            raise ValueError(f"{len(self.sliding_layers)} sliding-layer flags for {self.n_layers} layers")
        if self.rope_linear_factor <= 0:
            raise ValueError(f"rope.scaling.factor must be positive, got {self.rope_linear_factor}")
        return self

    @property
    def q_dim(self) -> int:
        return self.n_heads * self.head_dim

    @property
    def kv_dim(self) -> int:
        return self.n_kv_heads * self.head_dim

    def window(self, layer: int) -> int:
        """Attention window of ``layer`` (0 = full attention)."""
        return self.sliding_window if self.sliding_layers and self.sliding_layers[layer] else 0


def llama_config(metadata: dict[str, Any]) -> LlamaConfig:
    """The config of a ``llama``, ``qwen2`` or ``gemma3`` file (``general.architecture`` picks)."""
    arch = metadata_value(metadata, "general.architecture")
    if arch not in ARCHITECTURES:
        raise ConfigError(f"architecture {arch!r} is not one of {', '.join(ARCHITECTURES)}")
    get = lambda key, *default: metadata_value(metadata, f"{arch}.{key}", *default)  # noqa: E731
    try:
        hidden = int(get("embedding_length"))
        n_heads = int(get("attention.head_count"))
        n_layers = int(get("block_count"))
        head_dim = int(get("attention.key_length", hidden // n_heads))
        value_dim = int(get("attention.value_length", head_dim))
        if value_dim != head_dim:
            raise ConfigError(f"{arch}.attention.value_length {value_dim} differs from key_length {head_dim}")
        rope_dims = int(get("rope.dimension_count", head_dim))
        if rope_dims != head_dim:
            raise ConfigError(f"{arch}.rope.dimension_count {rope_dims} != head dim {head_dim}: "
                              "partial rotary embeddings are not supported")
        _reject_softcapping(metadata, arch)
        fields: dict[str, Any] = dict(
            architecture=arch,
            vocab_size=metadata_vocab_size(metadata, arch),
            context_length=int(get("context_length")),
            hidden_size=hidden, n_layers=n_layers, n_heads=n_heads,
            n_kv_heads=int(get("attention.head_count_kv", n_heads)),
            head_dim=head_dim,
            ffn=int(get("feed_forward_length")),
            rms_eps=float(get("attention.layer_norm_rms_epsilon")),
            rope_base=float(get("rope.freq_base", 10000.0)),
            rope_linear_factor=_rope_linear_factor(metadata, arch),
            rope_interleaved=arch == "llama",
            attn_scale=1.0 / math.sqrt(head_dim),
        )
        if arch == "gemma3":
            fields.update(_gemma3_sliding(metadata, n_layers))
        return LlamaConfig(**fields)
    except ValidationError as e:
        err = e.errors()[0]
        raise ConfigError(f"inconsistent {arch} hyperparameters: {err['msg']}") from None


def _rope_linear_factor(metadata: dict[str, Any], arch: str) -> float:
    kind = metadata.get(f"{arch}.rope.scaling.type", "none")
    if kind == "none":
        return 1.0
    if kind != "linear":
        raise ConfigError(f"{arch}.rope.scaling.type {kind!r} is not supported (expected 'linear' or 'none')")
    return float(metadata_value(metadata, f"{arch}.rope.scaling.factor"))


def _reject_softcapping(metadata: dict[str, Any], arch: str) -> None:
    """Gemma 2's logit soft-capping is not implemented; Gemma 3 files do not set it."""
    for key in ("attn_logit_softcapping", "final_logit_softcapping"):
        if float(metadata.get(f"{arch}.{key}", 0.0) or 0.0) != 0.0:
            raise ConfigError(f"{arch}.{key} is set: logit soft-capping is not supported")


def _gemma3_sliding(metadata: dict[str, Any], n_layers: int) -> dict[str, Any]:
    """Window, per-layer flags (``attention.sliding_window_pattern`` if the file has one, else
    llama.cpp's period of 6) and the local RoPE base."""
    window = int(metadata.get("gemma3.attention.sliding_window", 0))
    if window <= 0:
        return {}
    pattern = metadata.get("gemma3.attention.sliding_window_pattern")
    if pattern is not None and not isinstance(pattern, (int, float)):
        flags = tuple(bool(p) for p in pattern)
    else:
        period = int(pattern) if pattern is not None else GEMMA3_SWA_PERIOD
        flags = tuple(i % period < period - 1 for i in range(n_layers))
    return dict(sliding_window=window, sliding_layers=flags, local_rope_base=GEMMA3_LOCAL_ROPE_BASE)
