"""Architecture detection: ``general.architecture`` picks the adapter through the plugin registry."""
from __future__ import annotations

from runtime.architecture import ArchitectureAdapter
from runtime.gguf.reader import GGUFFile
from runtime.plugins import Registry, registry


def detect(gguf: GGUFFile, reg: Registry | None = None) -> ArchitectureAdapter:
    """The adapter serving this file. Raises GGUFFormatError when the key is missing and
    UnsupportedArchitectureError (listing the supported ones) when no plugin serves it."""
    reg = reg or registry()
    arch = gguf.architecture
    return reg.adapter_class(arch)(arch)
