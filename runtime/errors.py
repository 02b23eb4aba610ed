"""Every error plugrt raises on purpose derives from :class:`PlugrtError`."""
from __future__ import annotations


class PlugrtError(Exception):
    """Base class of all plugrt errors."""


class GGUFFormatError(PlugrtError):
    """A GGUF file is malformed. Names the file, byte offset, field and expected vs found."""

    def __init__(self, message: str, *, path: str | None = None, offset: int | None = None,
                 field: str | None = None, expected: object = None, found: object = None):
        self.path, self.offset, self.field = path, offset, field
        self.expected, self.found = expected, found
        parts = [message]
        if field is not None:
            parts.append(f"field={field!r}")
        if expected is not None or found is not None:
            parts.append(f"expected {expected}, found {found}")
        where = path if path is not None else "<gguf>"
        if offset is not None:
            where += f" @ byte {offset}"
        super().__init__(f"{where}: " + "; ".join(parts))


class UnsupportedArchitectureError(PlugrtError):
    """No plugin serves the file's ``general.architecture``."""


class UnsupportedQuantTypeError(PlugrtError):
    """No plugin serves a tensor's ggml type."""


class PluginConflictError(PlugrtError):
    """Two plugins claim the same architecture or ggml type."""


class ProvenanceError(PlugrtError):
    """A model file's hash or size differs from what the caller or manifest trusts."""


class ConfigError(PlugrtError):
    """Model hyperparameters in the metadata are missing or inconsistent."""


class OutOfDeviceMemory(PlugrtError):
    """The device cannot hold what was asked for; nothing of the failed operation stays allocated."""


class BackendUnavailableError(PlugrtError):
    """The requested compute backend cannot run here (e.g. no CUDA driver or no pycuda)."""


class GenerationError(PlugrtError):
    """A generation request cannot be served (empty prompt, prompt longer than the context, bad logits)."""


class ChatTemplateError(PlugrtError):
    """A chat template is missing, fails to render, or the messages do not fit the chat format."""
