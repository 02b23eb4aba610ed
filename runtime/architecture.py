"""The architecture-adapter interface that architecture plugins implement."""
from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar

from pydantic import BaseModel

from runtime.errors import ConfigError
from runtime.gguf.reader import GGUFFile
from runtime.runner import MAX_TOKENS_PER_CALL

log = logging.getLogger(__name__)


class WeightSpec(BaseModel):
    """One row of an adapter's weight table: a GGUF tensor, its role and expected NumPy shape."""

    name: str
    role: str
    shape: tuple[int, ...]
    optional: bool = False


@dataclass(frozen=True)
class KVLayer:
    """One layer's key/value cache as the backend allocates it: K and V of ``rows`` positions x
    ``n_kv_heads`` x ``head_dim`` float32 each."""

    rows: int
    n_kv_heads: int
    head_dim: int

    @property
    def nbytes(self) -> int:
        return 2 * 4 * self.rows * self.n_kv_heads * self.head_dim


#: Bound on the rows of the CUDA attention's split-K partial buffer (splits x tokens x query heads):
#: the kernel splits keys only while it has fewer than 4096 (token, head) rows (runtime/cuda/ops.py).
_ATTENTION_PARTIAL_ROWS = 8192


def attention_partials_bytes(head_dim: int) -> int:
    """Upper bound of the CUDA attention's split-K workspace, for adapters' :meth:`workspace_bytes`."""
    return 4 * _ATTENTION_PARTIAL_ROWS * (head_dim + 2)


def int8_copy_bytes(n_values: int) -> int:
    """Bytes of the CUDA backend's int8 quantization of a product's input of ``n_values`` floats
    (one byte a value, a float pair per 32), alive while the product runs; for adapters'
    :meth:`workspace_bytes`."""
    return n_values + n_values // 32 * 8


def expert_routing_bytes(n_pairs: int, n_experts: int) -> int:
    """Upper bound of the CUDA backend's routing table of the grouped expert products (the pairs
    sorted by expert and tiles of at least 64 pairs, runtime.cuda.ops.expert_tiles), alive while a
    layer's expert products run; for adapters' :meth:`workspace_bytes`."""
    return 4 * n_pairs + 16 * (n_pairs // 64 + n_experts)


class ArchitectureAdapter(ABC):
    """Serves one or more ``general.architecture`` strings.

    Subclasses set ``architectures`` and implement :meth:`config` (hyperparameters from
    metadata, raising :class:`ConfigError` on missing or inconsistent values),
    :meth:`weight_table` and :meth:`build` (the forward pass on a backend).
    """

    architectures: ClassVar[tuple[str, ...]]
    #: Prefill chunk of the runner :meth:`build` makes; the memory planner sizes workspaces for it.
    max_tokens_per_call: ClassVar[int] = MAX_TOKENS_PER_CALL

    def __init__(self, architecture: str):
        if architecture not in self.architectures:
            raise ConfigError(f"{type(self).__name__} does not serve architecture {architecture!r}")
        self.architecture = architecture

    @abstractmethod
    def config(self, metadata: dict[str, Any]) -> BaseModel:
        """Pydantic config built from the GGUF metadata."""

    @abstractmethod
    def weight_table(self, config: BaseModel) -> list[WeightSpec]:
        """Every tensor the model reads, with its role and expected shape."""

    @abstractmethod
    def build(self, gguf: GGUFFile, config: BaseModel, backend: Any) -> Any:
        """A runner for the forward pass of this model on ``backend``."""

    # -- memory planning (runtime.memory); the defaults are conservative, adapters refine them ----------
    def kv_cache_layout(self, config: BaseModel, context_length: int, max_tokens_per_call: int) -> list[KVLayer]:
        """The KV cache the runner allocates for ``context_length``, sized from the config's
        ``n_layers``, ``n_kv_heads`` (else ``n_heads``) and ``head_dim`` (else hidden_size / n_heads).
        A config with a ``window(layer)`` method (0: full attention) gets ring caches of window +
        tokens-per-call rows on its sliding layers, as :class:`~runtime.backend.kv_cache.KVCache`
        holds them; every other layer holds the whole context. A config without these fields is
        taken to describe a model without a KV cache (a warning says so)."""
        from runtime.backend.kv_cache import layer_capacity

        try:
            layers, heads = config.n_layers, getattr(config, "n_kv_heads", None) or config.n_heads
            head_dim = getattr(config, "head_dim", None) or config.hidden_size // config.n_heads
        except AttributeError as e:
            log.warning("%s does not implement kv_cache_layout and its config has no %r: the memory plan "
                        "counts no KV cache", type(self).__name__, e.name)
            return []
        window = getattr(config, "window", lambda layer: 0)
        return [KVLayer(layer_capacity(window(i), context_length, max_tokens_per_call), heads, head_dim)
                for i in range(layers)]

    def workspace_bytes(self, config: BaseModel, context_length: int, max_tokens_per_call: int,
                        logit_rows: int) -> int:
        """Peak bytes of per-call temporaries (activations, logits, kernel workspaces) of a forward
        call of ``max_tokens_per_call`` tokens, or of one of at most ``logit_rows`` tokens that returns
        every position's logits (the runner cuts those calls shorter). Default: ``logit_rows`` rows of
        logits plus 32 hidden-size rows per token, a generous bound for a dense transformer block."""
        try:
            vocab, hidden = config.vocab_size, config.hidden_size
        except AttributeError as e:
            raise ConfigError(f"{type(self).__name__} must implement workspace_bytes: config has no {e.name!r}") from e
        return 4 * (logit_rows * vocab + max_tokens_per_call * 32 * hidden)

    def float32_tensors(self, config: BaseModel) -> set[str]:
        """Tensors the runner uploads dequantized to float32 (the ops' parameters: norms, biases...);
        every other tensor stays in its ggml type on the device. Default: the 1-D tensors."""
        return {spec.name for spec in self.weight_table(config) if len(spec.shape) == 1}

    def check_weights(self, gguf: GGUFFile, config: BaseModel) -> None:
        """Raise :class:`ConfigError` naming the first missing or misshapen tensor."""
        for spec in self.weight_table(config):
            info = gguf.tensors.get(spec.name)
            if info is None:
                if spec.optional:
                    continue
                raise ConfigError(f"{gguf.path}: tensor {spec.name!r} ({spec.role}) is missing")
            if info.shape != spec.shape:
                raise ConfigError(f"{gguf.path}: tensor {spec.name!r} ({spec.role}) has shape {info.shape}, "
                                  f"expected {spec.shape}")


def metadata_value(metadata: dict[str, Any], key: str, default: Any = ...) -> Any:
    """``metadata[key]``, or ``default``; a missing key without a default is a :class:`ConfigError`."""
    if key in metadata:
        return metadata[key]
    if default is ...:
        raise ConfigError(f"metadata key {key!r} is missing")
    return default


def metadata_vocab_size(metadata: dict[str, Any], arch: str) -> int:
    """``{arch}.vocab_size``, else the length of ``tokenizer.ggml.tokens`` (llama.cpp's rule)."""
    if f"{arch}.vocab_size" in metadata:
        return int(metadata[f"{arch}.vocab_size"])
    tokens = metadata.get("tokenizer.ggml.tokens")
    if tokens is None:
        raise ConfigError(f"metadata has neither {arch}.vocab_size nor tokenizer.ggml.tokens")
    return len(tokens)
