"""CUDA graphs through the driver API (pycuda has no graph binding): record the kernels one call
launches on a stream, then replay them with a single launch.

A decode step launches hundreds of small kernels; from Python each launch costs microseconds of
host time, far more than the kernel itself. Replaying the recorded step costs one launch. What a
recorded step reads and writes must stay where it was during the recording: its input and output
buffers are fixed, and the values that change from step to step (token id, position) are copied
into those buffers before each replay; kernel arguments must not depend on them.

Between a kernel and one that waits for it in-kernel (:func:`waits_in_kernel`), the recorded edge
is made programmatic (programmatic dependent launch, sm_90): the second kernel's blocks start as
the first one's finish and fetch their first weights before they wait, so a decode step's matrix
products do not each pay a launch's ramp-up and tail with the memory bus idle. ``PLUGRT_PDL=0``
keeps plain edges.
"""
from __future__ import annotations

import ctypes
import logging
import os
from functools import lru_cache
from typing import Any, Callable

log = logging.getLogger(__name__)

#: CU_STREAM_CAPTURE_MODE_RELAXED: allocations (cuMemAlloc) may happen while a step is recorded
_CAPTURE_MODE_RELAXED = 2
_NODE_TYPE_KERNEL = 0  # CU_GRAPH_NODE_TYPE_KERNEL
_PORT_PROGRAMMATIC = 1  # CU_GRAPH_KERNEL_NODE_PORT_PROGRAMMATIC
_DEPENDENCY_PROGRAMMATIC = 1  # CU_GRAPH_DEPENDENCY_TYPE_PROGRAMMATIC
#: Driver entry points of programmatic edges (CUDA 12.3); without them graphs keep plain edges.
_PROGRAMMATIC_SIGNATURES = {
    "cuGraphGetEdges_v2": ["handle", "nodes", "nodes", "edges", "size_pointer"],
    "cuGraphRemoveDependencies_v2": ["handle", "nodes", "nodes", "edges", "size"],
    "cuGraphAddDependencies_v2": ["handle", "nodes", "nodes", "edges", "size"],
    "cuGraphNodeGetType": ["handle", "int_pointer"],
    "cuGraphKernelNodeGetParams_v2": ["handle", "handle"],
    "cuFuncGetName": ["name_pointer", "handle"],
}

#: Kernels that call wait_for_prior_kernels (runtime/cuda/include/pdl.cuh) before touching
#: activations; see waits_in_kernel.
_waiting_kernels: set[str] = set()


def waits_in_kernel(name: str) -> None:
    """Declare that every launch of kernel ``name`` waits for the kernels before it in-kernel
    (pdl.cuh), so that a recorded graph may start it while the kernel before it still runs: it then
    fetches its first weights and sets up while that one finishes."""
    _waiting_kernels.add(name)


class _EdgeData(ctypes.Structure):
    """CUgraphEdgeData."""
    _fields_ = [("from_port", ctypes.c_ubyte), ("to_port", ctypes.c_ubyte), ("type", ctypes.c_ubyte),
                ("reserved", ctypes.c_ubyte * 5)]


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
    kinds = {"handle": handle, "nodes": pointer, "edges": ctypes.POINTER(_EdgeData), "size": ctypes.c_size_t,
             "size_pointer": ctypes.POINTER(ctypes.c_size_t), "int_pointer": ctypes.POINTER(ctypes.c_int),
             "name_pointer": ctypes.POINTER(ctypes.c_char_p)}
    for name, argtypes in _PROGRAMMATIC_SIGNATURES.items():
        fn = getattr(lib, name, None)
        if fn is not None:
            fn.argtypes, fn.restype = [kinds[a] for a in argtypes], ctypes.c_int
    return lib


def programmatic_launches() -> bool:
    """Programmatic edges, unless ``PLUGRT_PDL=0`` or the driver lacks them (before CUDA 12.3)."""
    if os.environ.get("PLUGRT_PDL", "1") == "0":
        return False
    lib = _libcuda()
    return all(hasattr(lib, name) for name in _PROGRAMMATIC_SIGNATURES)


def _kernel_name(node) -> str | None:
    """The name of the kernel a graph node launches; None for other nodes."""
    lib = _libcuda()
    kind = ctypes.c_int()
    _check(lib.cuGraphNodeGetType(node, ctypes.byref(kind)), "cuGraphNodeGetType")
    if kind.value != _NODE_TYPE_KERNEL:
        return None
    params = (ctypes.c_void_p * 16)()  # CUDA_KERNEL_NODE_PARAMS_v2 (72 bytes), its first field the CUfunction
    _check(lib.cuGraphKernelNodeGetParams_v2(node, params), "cuGraphKernelNodeGetParams")
    name = ctypes.c_char_p()
    _check(lib.cuFuncGetName(ctypes.byref(name), ctypes.c_void_p(params[0])), "cuFuncGetName")
    return (name.value or b"").decode()


def _make_edges_programmatic(graph) -> int:
    """Turns every kernel -> kernel edge of ``graph`` whose second kernel waits in-kernel
    (waits_in_kernel) into a programmatic one; returns how many it turned."""
    lib = _libcuda()
    count = ctypes.c_size_t()
    _check(lib.cuGraphGetEdges_v2(graph, None, None, None, ctypes.byref(count)), "cuGraphGetEdges")
    n = count.value
    sources, targets, data = (ctypes.c_void_p * n)(), (ctypes.c_void_p * n)(), (_EdgeData * n)()
    _check(lib.cuGraphGetEdges_v2(graph, sources, targets, data, ctypes.byref(count)), "cuGraphGetEdges")
    names: dict[int, str | None] = {}

    def name_of(node) -> str | None:
        if node not in names:
            names[node] = _kernel_name(ctypes.c_void_p(node))
        return names[node]

    one_node, one_edge = ctypes.c_void_p * 1, _EdgeData * 1
    programmatic = one_edge(_EdgeData(from_port=_PORT_PROGRAMMATIC, type=_DEPENDENCY_PROGRAMMATIC))
    turned = 0
    for source, target, edge in zip(sources, targets, data):
        if edge.type or name_of(target) not in _waiting_kernels or name_of(source) is None:
            continue
        ends = one_node(source), one_node(target)
        _check(lib.cuGraphRemoveDependencies_v2(graph, *ends, one_edge(edge), 1), "cuGraphRemoveDependencies")
        _check(lib.cuGraphAddDependencies_v2(graph, *ends, programmatic, 1), "cuGraphAddDependencies")
        turned += 1
    return turned


def _check(result: int, what: str) -> None:
    if result != 0:
        message = ctypes.c_char_p()
        _libcuda().cuGetErrorString(result, ctypes.byref(message))
        raise GraphError(f"{what}: CUDA error {result} ({(message.value or b'?').decode()})")


class CudaGraph:
    """One recorded call, replayed by :meth:`launch` on the stream it was recorded on.

    ``result`` is what the recorded call returned (its output arrays, written again by each
    replay); ``buffers`` holds every device buffer allocated while recording, which the replays
    keep using after the Python arrays that named them are gone; ``programmatic_edges`` counts the
    edges made programmatic.
    """

    def __init__(self, graph: int, executable: int, stream, result: Any, buffers: list, programmatic_edges: int):
        self._graph, self._executable, self._stream = graph, executable, stream
        self.result, self.buffers, self.programmatic_edges = result, buffers, programmatic_edges

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
            programmatic = _make_edges_programmatic(graph) if programmatic_launches() else 0
            _check(lib.cuGraphInstantiateWithFlags(ctypes.byref(executable), graph, 0), "cuGraphInstantiate")
        except GraphError:
            lib.cuGraphDestroy(graph)
            raise
        log.debug("recorded a graph with %d programmatic edges", programmatic)
        return cls(graph.value, executable.value, stream, result, buffers, programmatic)

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
