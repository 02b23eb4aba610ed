"""Compute backends: ``get_backend("cpu")`` (NumPy reference) or ``get_backend("cuda")`` (PyCUDA)."""
from __future__ import annotations

from runtime.backend.base import Backend, Weight
from runtime.errors import BackendUnavailableError

BACKENDS = ("cpu", "cuda")


def get_backend(name: str, reg=None, allocator=None, **options) -> Backend:
    """A new backend instance; ``reg`` is the plugin registry (default: the process-wide one),
    ``allocator`` the :class:`~runtime.backend.allocator.Allocator` its memory comes from
    (default: a new one of the device's kind); ``options`` go to the backend's constructor
    (``int8_activations`` for cuda)."""
    if name == "cpu":
        from runtime.backend.cpu import CpuBackend

        return CpuBackend(reg, allocator, **options)
    if name == "cuda":
        from runtime.backend.cuda import CudaBackend

        return CudaBackend(reg, allocator, **options)
    raise BackendUnavailableError(f"unknown backend {name!r}; choose one of {', '.join(BACKENDS)}")


__all__ = ["Backend", "Weight", "get_backend", "BACKENDS"]
