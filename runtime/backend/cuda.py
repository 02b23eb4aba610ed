"""The PyCUDA backend: ``runtime.cuda.ops`` for the ops, the formats' ``cuda_*`` consumers for weights.

Weights are uploaded as their raw ggml blocks and stay quantized on the device. All device memory
comes from the backend's :class:`~runtime.backend.allocator.CudaAllocator`: op outputs take the
allocator of their input, and the weight consumers get preallocated ``out`` arrays.
"""
from __future__ import annotations

import logging
import os

import numpy as np

from runtime.backend.allocator import CudaAllocator
from runtime.backend.base import Backend, Weight, raw_rows
from runtime.cuda import device
from runtime.cuda import ops as cuda_ops
from runtime.gguf.reader import TensorInfo

log = logging.getLogger(__name__)

#: Host-to-device copies of weight data go in slices of this size (from the memory-mapped file).
UPLOAD_CHUNK_BYTES = 64 << 20


class CudaBackend(Backend):
    name = "cuda"

    rms_norm = staticmethod(cuda_ops.rms_norm)
    layer_norm = staticmethod(cuda_ops.layer_norm)
    gelu_tanh = staticmethod(cuda_ops.gelu_tanh)
    add_bias_gelu = staticmethod(cuda_ops.add_bias_gelu)
    add = staticmethod(cuda_ops.add)
    add_bias = staticmethod(cuda_ops.add_bias)
    add_position_embedding = staticmethod(cuda_ops.add_position_embedding)
    split_columns = staticmethod(cuda_ops.split_columns)
    rope_neox = staticmethod(cuda_ops.rope_neox)
    kv_store = staticmethod(cuda_ops.kv_store)
    attention = staticmethod(cuda_ops.attention)
    moe_router = staticmethod(cuda_ops.moe_router)
    swiglu_oai = staticmethod(cuda_ops.swiglu_oai)
    moe_combine = staticmethod(cuda_ops.moe_combine)
    argmax = staticmethod(cuda_ops.argmax)

    def __init__(self, reg=None, allocator=None):
        device.context()  # BackendUnavailableError when there is no usable GPU
        super().__init__(reg, allocator)
        from pycuda import driver, gpuarray

        self._gpuarray, self._driver = gpuarray, driver
        self._op_outputs = self.allocator.gpuarray_allocator("op output")

    def _default_allocator(self) -> CudaAllocator:
        return CudaAllocator()

    def _empty(self, shape: tuple[int, ...], dtype, what: str = "op output"):
        """An uninitialised GPUArray whose memory (and that of every op output derived from it,
        which takes its ``allocator``) comes from this backend's allocator."""
        shape = tuple(int(d) for d in shape)
        nbytes = int(np.prod(shape, dtype=np.int64)) * np.dtype(dtype).itemsize
        pointer = self.allocator.allocate(nbytes, what) if nbytes else None
        return self._gpuarray.GPUArray(shape, dtype, allocator=self._op_outputs, gpudata=pointer)

    def tensor(self, array: np.ndarray):
        array = np.asarray(array)
        dtype = np.int32 if np.issubdtype(array.dtype, np.integer) else np.float32
        out = self._empty(array.shape, dtype, f"tensor {array.shape}")
        if out.size:
            self.write(out, array)
        return out

    def numpy(self, t) -> np.ndarray:
        return t.get()

    def write(self, t, array: np.ndarray) -> None:
        self._driver.memcpy_htod(t.gpudata, np.ascontiguousarray(array, dtype=t.dtype).reshape(t.shape))

    @property
    def can_record(self) -> bool:
        """CUDA graphs, unless ``PLUGRT_CUDA_GRAPHS=0``."""
        return os.environ.get("PLUGRT_CUDA_GRAPHS", "1") != "0"

    def record(self, call):
        """A :class:`~runtime.cuda.graph.CudaGraph` of ``call``; None where the driver refuses (logged)."""
        from runtime.cuda.graph import CudaGraph, GraphError

        with self.allocator.retaining() as buffers:
            try:
                return CudaGraph.record(device.stream(), call, buffers)
            except (GraphError, self._driver.Error) as e:
                log.warning("CUDA graphs unavailable, launching kernels one by one: %s", e)
                return None

    def zeros(self, shape: tuple[int, ...]):
        out = self._empty(shape, np.float32, f"zeros {tuple(shape)}")
        if out.size:
            self._driver.memset_d32(out.gpudata, 0, out.size)
        return out

    def weight(self, info: TensorInfo, raw: np.ndarray) -> Weight:
        """Allocates the device buffer, then copies the (memory-mapped) bytes in slices of
        ``UPLOAD_CHUNK_BYTES``, so host memory in flight stays bounded whatever the tensor's size."""
        fmt = self.format(info)
        rows = raw_rows(info, raw, fmt)
        out = self._empty(rows.shape, np.uint8, info.name)
        flat = rows.reshape(-1)
        for start in range(0, flat.size, UPLOAD_CHUNK_BYTES):
            piece = flat[start:start + UPLOAD_CHUNK_BYTES]
            self._driver.memcpy_htod(int(out.gpudata) + start, np.ascontiguousarray(piece))
            if self.upload_progress is not None:
                self.upload_progress(piece.size)
        return Weight(info.name, info.shape, fmt, out)

    def _output(self, shape: tuple[int, ...]):
        """A float32 ``out`` for a weight consumer (its launcher would otherwise allocate outside
        the allocator)."""
        return self._empty(shape, np.float32)

    def linear(self, x, w: Weight, bias=None):
        y = w.fmt.cuda_linear(x, w.data, w.in_features, out=self._output((x.shape[0], w.shape[0])))
        return y if bias is None else cuda_ops.add_bias(y, bias, out=y)

    def embedding(self, w: Weight, ids):
        return w.fmt.cuda_embedding(w.data, ids, w.shape[-1], out=self._output((ids.shape[0], w.shape[-1])))

    def _experts(self, x, w: Weight, ids):
        out = self._output((*ids.shape, w.shape[1]))
        return w.fmt.cuda_linear_experts(x, w.data, ids, w.in_features, out=out)
