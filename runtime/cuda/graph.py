"""CUDA graphs through the driver API (pycuda has no graph binding): record the kernels one call
launches on a stream, then replay them with a single launch.

A decode step launches hundreds of small kernels; from Python each launch costs microseconds of
host time, far more than the kernel itself. Replaying the recorded step costs one launch. What a
recorded step reads and writes must stay where it was during the recording: its input and output
buffers are fixed, and the values that change from step to step (token id, position) are copied
into those buffers before each replay; kernel arguments must not depend on them.
"""
from __future__ import annotations

import ctypes
from functools import lru_cache
from typing import Any, Callable

#: CU_STREAM_CAPTURE_MODE_RELAXED: allocations (cuMemAlloc) may happen while a step is recorded
_CAPTURE_MODE_RELAXED = 2


class GraphError(RuntimeError):
    """The driver refused to record or replay a graph."""


@lru_cache(maxsize=1)
def _libcuda() -> ctypes.CDLL:
    lib = ctypes.CDLL("libcuda.so.1")
    handle, pointer = ctypes.c_void_p, ctypes.POINTER(ctypes.c_void_p)
    signatures = {
        "cuStreamBeginCapture_v2": [handle, ctypes.c_int],
        "cuStreamEndCapture": [handle, pointer],
        "cuGraphInstantiateWithFlags": [pointer, handle, ctypes.c_ulonglong],
        "cuGraphLaunch": [handle, handle],
        "cuGraphExecDestroy": [handle],
        "cuGraphDestroy": [handle],
        "cuGetErrorString": [ctypes.c_int, ctypes.POINTER(ctypes.c_char_p)],
    }
    for name, argtypes in signatures.items():
        fn = getattr(lib, name)
        fn.argtypes, fn.restype = argtypes, ctypes.c_int
    return lib


def _check(result: int, what: str) -> None:
    if result != 0:
        message = ctypes.c_char_p()
        _libcuda().cuGetErrorString(result, ctypes.byref(message))
        raise GraphError(f"{what}: CUDA error {result} ({(message.value or b'?').decode()})")


class CudaGraph:
    """One recorded call, replayed by :meth:`launch` on the stream it was recorded on.

    ``result`` is what the recorded call returned (its output arrays, written again by each
    replay); ``buffers`` holds every device buffer allocated while recording, which the replays
    keep using after the Python arrays that named them are gone.
    """

    def __init__(self, graph: int, executable: int, stream, result: Any, buffers: list):
        self._graph, self._executable, self._stream = graph, executable, stream
        self.result, self.buffers = result, buffers

    @classmethod
    def record(cls, stream, call: Callable[[], Any], buffers: list) -> "CudaGraph":
        """Record what ``call`` launches on ``stream`` (nothing runs yet). ``buffers`` is the list
        the caller's allocator fills during the call; the graph keeps it."""
        lib, handle = _libcuda(), ctypes.c_void_p(stream.handle)
        _check(lib.cuStreamBeginCapture_v2(handle, _CAPTURE_MODE_RELAXED), "cuStreamBeginCapture")
        graph = ctypes.c_void_p()
        try:
            result = call()
        except BaseException:  # end the capture so the stream is usable again; drop the partial graph
            if lib.cuStreamEndCapture(handle, ctypes.byref(graph)) == 0 and graph.value:
                lib.cuGraphDestroy(graph)
            raise
        _check(lib.cuStreamEndCapture(handle, ctypes.byref(graph)), "cuStreamEndCapture")
        executable = ctypes.c_void_p()
        try:
            _check(lib.cuGraphInstantiateWithFlags(ctypes.byref(executable), graph, 0), "cuGraphInstantiate")
        except GraphError:
            lib.cuGraphDestroy(graph)
            raise
        return cls(graph.value, executable.value, stream, result, buffers)

    def launch(self) -> None:
        _check(_libcuda().cuGraphLaunch(ctypes.c_void_p(self._executable), ctypes.c_void_p(self._stream.handle)),
               "cuGraphLaunch")

    def __del__(self) -> None:
        try:
            lib = _libcuda()
            lib.cuGraphExecDestroy(ctypes.c_void_p(self._executable))
            lib.cuGraphDestroy(ctypes.c_void_p(self._graph))
        except Exception:  # interpreter shutdown: the context is going away with the graph
            pass
