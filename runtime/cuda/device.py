"""The one place that imports pycuda: context set-up and the per-process kernel cache."""
from __future__ import annotations

import logging
from functools import lru_cache

from runtime.cuda.source import NVCC_FLAGS, CudaSource
from runtime.errors import BackendUnavailableError

log = logging.getLogger(__name__)


@lru_cache(maxsize=1)
def context():
    """Initialise CUDA on device 0 once per process and return its (primary) context."""
    try:
        import pycuda.driver as drv
    except ImportError as e:  # pycuda missing, or built without a driver
        raise BackendUnavailableError(f"pycuda cannot be imported: {e}; install plugrt[cuda]") from e
    try:
        drv.init()
        if drv.Device.count() == 0:
            raise BackendUnavailableError("no CUDA device found")
        dev = drv.Device(0)
        ctx = dev.retain_primary_context()
        ctx.push()
    except drv.Error as e:
        raise BackendUnavailableError(f"CUDA initialisation failed: {e}") from e
    import atexit

    atexit.register(ctx.pop)
    log.info("CUDA device 0: %s, compute %d.%d, %.1f GiB", dev.name(), *dev.compute_capability(),
             dev.total_memory() / 2**30)
    return ctx


@lru_cache(maxsize=1)
def stream():
    """The stream every plugrt kernel runs on. Unlike the legacy default stream it can be recorded
    into a CUDA graph (:mod:`runtime.cuda.graph`); being a blocking stream, it stays ordered with the
    synchronous copies pycuda makes on the default stream."""
    import pycuda.driver as drv

    context()
    return drv.Stream()


def available() -> bool:
    """True when a CUDA device can be used from this process."""
    try:
        context()
        return True
    except BackendUnavailableError:
        return False


def arch() -> str:
    import pycuda.driver as drv

    context()
    major, minor = drv.Context.get_device().compute_capability()
    return f"sm_{major}{minor}"


@lru_cache(maxsize=1)
def sm_count() -> int:
    """Streaming multiprocessors of device 0."""
    import pycuda.driver as drv

    context()
    return drv.Context.get_device().get_attribute(drv.device_attribute.MULTIPROCESSOR_COUNT)


@lru_cache(maxsize=None)
def _module(source: CudaSource):
    from pycuda.compiler import SourceModule

    context()
    log.debug("compiling %s for %s", source.name, arch())
    return SourceModule(source.code, no_extern_c=True, arch=arch(), options=list(NVCC_FLAGS),
                        include_dirs=[str(d) for d in source.include_dirs])


def kernel(source: CudaSource, name: str):
    """The compiled kernel ``name`` from ``source``; each source compiles once per process."""
    return _module(source).get_function(name)


def global_int(source: CudaSource, name: str) -> int:
    """The value of ``source``'s ``extern "C" __device__ int name`` (a size the kernels define)."""
    import numpy as np
    import pycuda.driver as drv

    ptr, _ = _module(source).get_global(name)
    value = np.zeros(1, np.int32)
    drv.memcpy_dtoh(value, ptr)
    return int(value[0])
