"""The one allocator each backend routes its memory through: accounting, budgets, rollback.

Every buffer a backend hands out (weights, KV cache, per-call temporaries) comes from
:meth:`Allocator.allocate`, which counts calls and live bytes. :meth:`Allocator.transaction`
brackets an operation (a load, a forward call): if anything inside it raises, every buffer
allocated inside it that is still alive is released at once, even while the failed call's
traceback still references it, so the process and other models keep their memory. A runner
therefore must not keep, past the call, a buffer first allocated inside a failed call.

:class:`HostAllocator` backs the NumPy backend (host memory standing in for the device, so the
same failure paths run in CI); :class:`CudaAllocator` backs the PyCUDA backend.
"""
from __future__ import annotations

import itertools
import logging
import weakref
from abc import ABC, abstractmethod
from contextlib import contextmanager
from typing import Any, Iterator

import numpy as np

from runtime.backend.block_cache import BlockCache
from runtime.errors import OutOfDeviceMemory

log = logging.getLogger(__name__)


def mib(nbytes: int) -> str:
    return f"{nbytes / 2**20:.1f} MiB"


class Allocator(ABC):
    """Counts allocations; subclasses implement :meth:`_allocate` and :meth:`_free`.

    ``calls``: allocations asked for so far (failed ones included); ``live_bytes`` /
    ``live_count``: what is allocated now; ``peak_bytes``: the most ever live at once.
    """

    def __init__(self) -> None:
        self.calls = 0
        self.live_bytes = 0
        self.peak_bytes = 0
        self._live: dict[int, int] = {}
        self._keys = itertools.count()
        self._open: list[list[int]] = []
        self._retainers: list[list[Any]] = []

    @property
    def live_count(self) -> int:
        return len(self._live)

    def allocate(self, nbytes: int, what: str = "") -> Any:
        """A buffer of ``nbytes``; raises :class:`OutOfDeviceMemory` when it cannot be had."""
        self.calls += 1
        key = next(self._keys)
        handle = self._allocate(key, int(nbytes), what)
        self._live[key] = int(nbytes)
        self.live_bytes += int(nbytes)
        self.peak_bytes = max(self.peak_bytes, self.live_bytes)
        for keys in self._open:
            keys.append(key)
        for held in self._retainers:
            held.append(handle)
        return handle

    @contextmanager
    def retaining(self) -> Iterator[list[Any]]:
        """Every buffer allocated inside the block is also kept in the yielded list, alive for as
        long as the list is (a recorded CUDA graph keeps using buffers its Python arrays named)."""
        held: list[Any] = []
        self._retainers.append(held)
        try:
            yield held
        finally:
            self._retainers.remove(held)

    def reset_peak(self) -> None:
        self.peak_bytes = self.live_bytes

    @contextmanager
    def transaction(self, what: str) -> Iterator[None]:
        """Release everything allocated inside the block (and still alive) if the block raises."""
        keys: list[int] = []
        self._open.append(keys)
        try:
            yield
        except BaseException:
            freed = sum(self._live.get(k, 0) for k in keys)
            try:
                self._settle()
            except Exception as e:  # a faulted device: release anyway, report the original error
                log.warning("%s: could not wait for queued work before releasing: %s", what, e)
            for key in reversed(keys):
                self._release(key)
            self.trim()
            log.info("%s failed: released %s allocated during it", what, mib(freed))
            raise
        finally:
            self._open.remove(keys)

    def _release(self, key: int) -> None:
        if key in self._live:
            self._free(key)
            self._forget(key)

    def _forget(self, key: int) -> None:
        """Called when a buffer is freed, explicitly or because nothing references it any more."""
        nbytes = self._live.pop(key, None)
        if nbytes is not None:
            self.live_bytes -= nbytes

    def _settle(self) -> None:
        """Wait until no queued work can still touch the buffers about to be released."""

    def trim(self) -> None:
        """Give back memory kept for reuse (there is none unless the subclass keeps freed buffers)."""

    @abstractmethod
    def _allocate(self, key: int, nbytes: int, what: str) -> Any:
        """A new buffer; must arrange for ``self._forget(key)`` when it is garbage collected."""

    @abstractmethod
    def _free(self, key: int) -> None:
        """Free buffer ``key`` now, whoever still references it."""


class HostAllocator(Allocator):
    """uint8 NumPy buffers. ``capacity`` (bytes, optional) makes it refuse like a full device.

    Freeing early is bookkeeping only: NumPy returns a buffer's memory when its last view dies.
    """

    def __init__(self, capacity: int | None = None) -> None:
        super().__init__()
        self.capacity = capacity

    def _allocate(self, key: int, nbytes: int, what: str) -> np.ndarray:
        if self.capacity is not None and self.live_bytes + nbytes > self.capacity:
            raise OutOfDeviceMemory(f"{what or 'buffer'}: {mib(nbytes)} do not fit ({mib(self.live_bytes)} of "
                                    f"{mib(self.capacity)} in use)")
        buffer = np.empty(nbytes, dtype=np.uint8)
        weakref.finalize(buffer, self._forget, key)
        return buffer

    def _free(self, key: int) -> None:
        pass


def device_memory_info() -> tuple[int, int]:
    """(free, total) bytes of the current CUDA device."""
    from runtime.cuda import device

    device.context()
    import pycuda.driver as drv

    return drv.mem_get_info()


class _Block:
    """Stands for one buffer handed out; its death returns the device memory to the cache."""

    __slots__ = ("__weakref__",)


class DevicePointer(int):
    """A device address that keeps its buffer handed out: pycuda takes it wherever it takes a
    ``DeviceAllocation`` (an ``int`` converts to ``CUdeviceptr``), e.g. as a GPUArray's ``gpudata``."""

    block: _Block


class CudaAllocator(Allocator):
    """``cuMemAlloc`` through pycuda, with freed buffers kept for reuse (see
    :mod:`runtime.backend.block_cache`) until :meth:`trim`; a driver out-of-memory error empties the
    cache and tries once more before it becomes :class:`OutOfDeviceMemory`."""

    def __init__(self) -> None:
        super().__init__()
        from runtime.cuda import device

        device.context()
        import pycuda.driver as drv

        self._driver = drv
        self._cache = BlockCache()
        self._handed_out: dict[int, tuple[int, Any]] = {}  # key -> (bytes, DeviceAllocation)

    @property
    def cached_bytes(self) -> int:
        return self._cache.cached_bytes

    def _allocate(self, key: int, nbytes: int, what: str) -> DevicePointer:
        size = max(nbytes, 1)
        allocation = self._cache.take(size)
        if allocation is None:
            allocation = self._new_allocation(size, what)
        self._handed_out[key] = (size, allocation)
        block = _Block()
        weakref.finalize(block, self._dead, key)
        pointer = DevicePointer(int(allocation))
        pointer.block = block
        return pointer

    def _new_allocation(self, size: int, what: str):
        try:
            return self._driver.mem_alloc(size)
        except self._driver.MemoryError as e:
            if self._cache.cached_bytes:
                self.trim()
                return self._new_allocation(size, what)
            free, total = self._driver.mem_get_info()
            raise OutOfDeviceMemory(f"{what or 'buffer'}: {mib(size)} do not fit on the GPU ({mib(free)} free "
                                    f"of {mib(total)}; this process holds {mib(self.live_bytes)}): {e}") from e

    def _settle(self) -> None:
        self._driver.Context.synchronize()

    def _dead(self, key: int) -> None:
        handed_out = self._handed_out.pop(key, None)
        if handed_out is not None:
            self._cache.put(*handed_out)
        self._forget(key)

    def _free(self, key: int) -> None:
        handed_out = self._handed_out.pop(key, None)
        if handed_out is not None:
            handed_out[1].free()

    def trim(self) -> None:
        for allocation in self._cache.drain():
            allocation.free()

    def gpuarray_allocator(self, what: str = ""):
        """The ``allocator=`` callable for ``pycuda.gpuarray.GPUArray``."""
        return lambda nbytes: self.allocate(nbytes, what)
