"""The architecture-adapter interface that architecture plugins implement."""
from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, ClassVar

from pydantic import BaseModel

from runtime.errors import ConfigError
from runtime.gguf.reader import GGUFFile


class WeightSpec(BaseModel):
    """One row of an adapter's weight table: a GGUF tensor, its role and expected NumPy shape."""

    name: str
    role: str
    shape: tuple[int, ...]
    optional: bool = False


class ArchitectureAdapter(ABC):
    """Serves one or more ``general.architecture`` strings.

    Subclasses set ``architectures`` and implement :meth:`config` (hyperparameters from
    metadata, raising :class:`ConfigError` on missing or inconsistent values),
    :meth:`weight_table` and :meth:`build` (the forward pass on a backend).
    """

    architectures: ClassVar[tuple[str, ...]]

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
