"""Hyperparameters of the GPT architectures, read from GGUF metadata (llama.cpp's key names)."""
from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError, model_validator

from runtime.architecture import metadata_value, metadata_vocab_size
from runtime.errors import ConfigError

#: GPT-OSS constants that GGUF files do not carry (llama.cpp hard-codes them too).
SWIGLU_ALPHA = 1.702
SWIGLU_LIMIT = 7.0
YARN_BETA_FAST = 32.0
YARN_BETA_SLOW = 1.0


class RopeScaling(BaseModel):
    """RoPE scaling; ``type="none"`` is plain RoPE. ``truncate`` rounds YaRN's correction range
    (llama.cpp's behaviour) instead of GPT-OSS's own unrounded definition."""

    model_config = ConfigDict(frozen=True)

    type: Literal["none", "yarn"] = "none"
    factor: float = 1.0
    original_context_length: int = 0
    beta_fast: float = YARN_BETA_FAST
    beta_slow: float = YARN_BETA_SLOW
    attn_factor: float = 1.0
    truncate: bool = False

    @model_validator(mode="after")
    def _check(self) -> "RopeScaling":
        if self.type == "yarn":
            if self.factor < 1.0:
                raise ValueError(f"rope.scaling.factor must be >= 1 for YaRN, got {self.factor}")
            if self.original_context_length <= 0:
                raise ValueError("rope.scaling.original_context_length must be positive for YaRN")
        return self


class GptOssConfig(BaseModel):
    model_config = ConfigDict(frozen=True)

    vocab_size: int
    context_length: int
    hidden_size: int
    n_layers: int
    n_heads: int
    n_kv_heads: int
    head_dim: int
    n_experts: int
    n_experts_used: int
    expert_ffn: int
    rms_eps: float
    rope_base: float
    rope_scaling: RopeScaling
    sliding_window: int
    #: per layer: True where the layer attends within ``sliding_window`` only
    sliding_layers: tuple[bool, ...]
    swiglu_alpha: float = SWIGLU_ALPHA
    swiglu_limit: float = SWIGLU_LIMIT

    @model_validator(mode="after")
    def _check(self) -> "GptOssConfig":
        _positive(self, "vocab_size", "context_length", "hidden_size", "n_layers", "n_heads", "n_kv_heads",
                  "head_dim", "n_experts", "n_experts_used", "expert_ffn", "sliding_window")
        if self.n_heads % self.n_kv_heads:
            raise ValueError(f"head_count {self.n_heads} is not a multiple of head_count_kv {self.n_kv_heads}")
        if self.n_experts_used > self.n_experts:
            raise ValueError(f"expert_used_count {self.n_experts_used} exceeds expert_count {self.n_experts}")
        if self.head_dim % 2:
            raise ValueError(f"key_length {self.head_dim} must be even for RoPE")
        if len(self.sliding_layers) != self.n_layers:
            raise ValueError(f"sliding_window_pattern has {len(self.sliding_layers)} entries, "
                             f"block_count is {self.n_layers}")
        return self

    def window(self, layer: int) -> int:
        """Attention window of ``layer`` (0 = full attention)."""
        return self.sliding_window if self.sliding_layers[layer] else 0


class Gpt2Config(BaseModel):
    model_config = ConfigDict(frozen=True)

    vocab_size: int
    context_length: int
    hidden_size: int
    n_layers: int
    n_heads: int
    ffn: int
    norm_eps: float

    @model_validator(mode="after")
    def _check(self) -> "Gpt2Config":
        _positive(self, "vocab_size", "context_length", "hidden_size", "n_layers", "n_heads", "ffn")
        if self.hidden_size % self.n_heads:
            raise ValueError(f"embedding_length {self.hidden_size} is not a multiple of head_count {self.n_heads}")
        return self

    @property
    def head_dim(self) -> int:
        return self.hidden_size // self.n_heads


def _positive(cfg: BaseModel, *names: str) -> None:
    for name in names:
        if getattr(cfg, name) <= 0:
            raise ValueError(f"{name} must be positive, got {getattr(cfg, name)}")


def _rope_scaling(metadata: dict[str, Any], arch: str, truncate: bool) -> RopeScaling:
    kind = metadata.get(f"{arch}.rope.scaling.type", "none")
    if kind not in ("none", "yarn"):
        raise ConfigError(f"{arch}.rope.scaling.type {kind!r} is not supported (expected 'yarn' or 'none')")
    if kind == "none":
        return RopeScaling()
    key = f"{arch}.rope.scaling."
    return RopeScaling(type="yarn", factor=float(metadata_value(metadata, key + "factor")),
                       original_context_length=int(metadata_value(metadata, key + "original_context_length")),
                       beta_fast=float(metadata.get(key + "yarn_beta_fast", YARN_BETA_FAST)),
                       beta_slow=float(metadata.get(key + "yarn_beta_slow", YARN_BETA_SLOW)),
                       attn_factor=float(metadata.get(key + "attn_factor", 1.0)),
                       truncate=truncate)


def _sliding_layers(metadata: dict[str, Any], arch: str, n_layers: int) -> tuple[bool, ...]:
    """``attention.sliding_window_pattern`` (one bool per layer) when present; otherwise GPT-OSS's
    alternation, starting with a sliding layer (what llama.cpp assumes for gpt-oss)."""
    pattern = metadata.get(f"{arch}.attention.sliding_window_pattern")
    if pattern is None:
        return tuple(i % 2 == 0 for i in range(n_layers))
    return tuple(bool(p) for p in pattern)


def gpt_oss_config(metadata: dict[str, Any], *, yarn_truncate: bool = False) -> GptOssConfig:
    """Config of a ``gpt-oss`` file; ``yarn_truncate=True`` selects llama.cpp's rounded YaRN range."""
    a = "gpt-oss"
    get = lambda key, *default: metadata_value(metadata, f"{a}.{key}", *default)  # noqa: E731
    try:
        n_layers = int(get("block_count"))
        n_heads = int(get("attention.head_count"))
        head_dim = int(get("attention.key_length"))
        value_dim = int(get("attention.value_length", head_dim))
        if value_dim != head_dim:
            raise ConfigError(f"{a}.attention.value_length {value_dim} differs from key_length {head_dim}")
        return GptOssConfig(
            vocab_size=metadata_vocab_size(metadata, a),
            context_length=int(get("context_length")),
            hidden_size=int(get("embedding_length")),
            n_layers=n_layers, n_heads=n_heads,
            n_kv_heads=int(get("attention.head_count_kv")),
            head_dim=head_dim,
            n_experts=int(get("expert_count")),
            n_experts_used=int(get("expert_used_count")),
            expert_ffn=int(get("expert_feed_forward_length", None) or get("feed_forward_length")),
            rms_eps=float(get("attention.layer_norm_rms_epsilon")),
            rope_base=float(get("rope.freq_base")),
            rope_scaling=_rope_scaling(metadata, a, yarn_truncate),
            sliding_window=int(get("attention.sliding_window")),
            sliding_layers=_sliding_layers(metadata, a, n_layers),
        )
    except ValidationError as e:
        raise ConfigError(f"inconsistent {a} hyperparameters: {_first_error(e)}") from None


def gpt2_config(metadata: dict[str, Any]) -> Gpt2Config:
    a = "gpt2"
    get = lambda key, *default: metadata_value(metadata, f"{a}.{key}", *default)  # noqa: E731
    try:
        hidden = int(get("embedding_length"))
        return Gpt2Config(
            vocab_size=metadata_vocab_size(metadata, a),
            context_length=int(get("context_length")),
            hidden_size=hidden,
            n_layers=int(get("block_count")),
            n_heads=int(get("attention.head_count")),
            ffn=int(get("feed_forward_length", 4 * hidden)),
            norm_eps=float(get("attention.layer_norm_epsilon")),
        )
    except ValidationError as e:
        raise ConfigError(f"inconsistent {a} hyperparameters: {_first_error(e)}") from None


def _first_error(e: ValidationError) -> str:
    err = e.errors()[0]
    where = ".".join(str(p) for p in err["loc"])
    return f"{where}: {err['msg']}" if where else err["msg"]
