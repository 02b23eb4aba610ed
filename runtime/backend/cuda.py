"""The PyCUDA backend: ``runtime.cuda.ops`` for the ops, the formats' ``cuda_*`` consumers for weights.

Weights are uploaded as their raw ggml blocks and stay quantized on the device. All device memory
comes from the backend's :class:`~runtime.backend.allocator.CudaAllocator`: op outputs take the
allocator of their input, and the weight consumers get preallocated ``out`` arrays.
"""
from __future__ import annotations

import logging
import os

import numpy as np

from runtime import quant_cuda
from runtime.backend.allocator import CudaAllocator
from runtime.backend.base import Backend, Weight, raw_rows
from runtime.cuda import device
from runtime.cuda import ops as cuda_ops
from runtime.ggml_types import GGMLType
from runtime.gguf.reader import TensorInfo

log = logging.getLogger(__name__)

#: Host-to-device copies of weight data go in slices of this size (from the memory-mapped file).
UPLOAD_CHUNK_BYTES = 64 << 20
#: Host copies in flight at once per shape (the runner's greedy decoding keeps at most two).
_HOST_SLOTS = 4


class CudaBackend(Backend):
    name = "cuda"

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

    def __init__(self, reg=None, allocator=None, *, int8_activations: bool | None = None):
        """``int8_activations``: the products of formats that offer it run on activations quantized
        to int8 per 32 values, as llama.cpp does (dp4a matvec kernels up to 8 rows, int8 tensor
        cores beyond); False keeps them in float32 (fp16 tensor cores beyond 8 rows). Default: on,
        unless the environment sets ``PLUGRT_INT8_ACTIVATIONS=0``."""
        device.context()  # BackendUnavailableError when there is no usable GPU
        super().__init__(reg, allocator)
        from pycuda import driver, gpuarray

        self._gpuarray, self._driver = gpuarray, driver
        self._op_outputs = self.allocator.gpuarray_allocator("op output")
        if int8_activations is None:
            int8_activations = os.environ.get("PLUGRT_INT8_ACTIVATIONS", "1") != "0"
        self.int8_activations = int8_activations
        # page-locked landing slots of copy_to_host_async, per (shape, dtype)
        self._host_slots: dict[tuple, list] = {}
        self._next_slot = 0

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
        cuda_ops.forget_derived(t)
        self._driver.memcpy_htod(t.gpudata, np.ascontiguousarray(array, dtype=t.dtype).reshape(t.shape))

    # -- int8 activations: an rms_norm output of decode size carries its quantization, made by the
    # norm's kernel, so the products reading it (q/k/v, the experts' gate and up) skip quantize_q8
    def rms_norm(self, x, w, eps: float, stream=None, out=None):
        if out is None and self._carries_int8(x):
            return cuda_ops.rms_norm_q8(x, w, eps, stream=stream)
        return cuda_ops.rms_norm(x, w, eps, stream=stream, out=out)

    def add_rms_norm(self, x, y, w, eps: float):
        return cuda_ops.add_rms_norm(x, y, w, eps, quantize=self._carries_int8(x))

    def _carries_int8(self, x) -> bool:
        return (self.int8_activations and len(x.shape) == 2 and x.shape[0] <= quant_cuda.MATVEC_MAX_ROWS
                and x.shape[1] % 32 == 0)

    def reshape(self, t, shape: tuple[int, ...]):
        """A view of ``t``; one that keeps the last axis keeps ``t``'s int8 quantization too."""
        view = t.reshape(shape)
        q8 = getattr(t, cuda_ops.INT8_ATTRIBUTE, None)
        if q8 is not None and shape[-1] == t.shape[-1]:
            q, ds = q8
            setattr(view, cuda_ops.INT8_ATTRIBUTE, (q.reshape(shape), ds.reshape((*shape[:-1], *ds.shape[-2:]))))
        return view

    def _int8(self, x) -> tuple:
        """x's int8 quantization: the one its producer made, or a new one."""
        q8 = getattr(x, cuda_ops.INT8_ATTRIBUTE, None)
        return q8 if q8 is not None else cuda_ops.quantize_q8(x)

    def _int8_for_experts(self, x) -> tuple:
        """(xq, xds, ids_ready) for an int8 expert product launched next: ids_ready where x is
        quantized here, so that the kernel in front of the product is quantize_q8, which starts
        only once everything before it has finished (it does not wait in-kernel): the product may
        then read its ids before its own wait (quant_cuda.matvec_q8_experts). GPT-OSS's down
        product is such a one; its fused gate + up follows the router and reads the norm's
        quantization."""
        ids_ready = getattr(x, cuda_ops.INT8_ATTRIBUTE, None) is None
        return (*self._int8(x), ids_ready)

    def _quantized_view(self, x):
        """A view of x carrying its int8 quantization, for products that read x more than once; the
        quantization lives as long as the view (x itself is left as it was)."""
        view = x.view()  # a new array object (reshape to the same shape returns x itself)
        setattr(view, cuda_ops.INT8_ATTRIBUTE, self._int8(x))
        return view

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

    def greedy_feedback(self, logits, ids, positions) -> None:
        cuda_ops.argmax(logits, out=ids)
        cuda_ops.advance(positions, 1)

    def copy_to_host_async(self, t):
        """Into page-locked memory, a ring of _HOST_SLOTS slots per shape: at most that many copies of
        one shape may be in flight unread."""
        key = (tuple(t.shape), t.dtype.str)
        if key not in self._host_slots:
            self._host_slots[key] = [self._driver.pagelocked_empty(t.shape, t.dtype) for _ in range(_HOST_SLOTS)]
        slot = self._host_slots[key][self._next_slot % _HOST_SLOTS]
        self._next_slot += 1
        stream = device.stream()
        self._driver.memcpy_dtoh_async(slot, t.gpudata, stream)
        copied = self._driver.Event()
        copied.record(stream)

        def wait() -> np.ndarray:
            copied.synchronize()
            return slot.copy()

        return wait

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

    def _on_int8(self, w: Weight) -> bool:
        return self.int8_activations and w.fmt.int8_activations

    def linear(self, x, w: Weight, bias=None):
        """Up to 8 rows: a matvec kernel with the bias added in it; more: a tensor-core matmul."""
        out = self._output((x.shape[0], w.shape[0]))
        if x.shape[0] > quant_cuda.MATVEC_MAX_ROWS:
            if self._on_int8(w):
                xq, xds = self._int8(x)
                y = w.fmt.cuda_matmul_q8(xq, xds, w.data, w.in_features, out=out)
            else:
                y = w.fmt.cuda_matmul(x, w.data, w.in_features, out=out)
            return y if bias is None else cuda_ops.add_bias(y, bias, out=y)
        if self._on_int8(w):
            xq, xds = self._int8(x)
            return w.fmt.cuda_matvec_q8(xq, xds, w.data, w.in_features, bias=bias, out=out)
        return w.fmt.cuda_matvec(x, w.data, w.in_features, bias=bias, out=out)

    def embedding(self, w: Weight, ids):
        return w.fmt.cuda_embedding(w.data, ids, w.shape[-1], out=self._output((ids.shape[0], w.shape[-1])))

    def _experts(self, x, w: Weight, ids, bias=None):
        """``bias``: float32 [E, out] on the device (added by the matvec kernels only)."""
        out = self._output((*ids.shape, w.shape[1]))
        if self._on_int8(w):
            xq, xds, ids_ready = self._int8_for_experts(x)
            if ids.shape[0] <= quant_cuda.MATVEC_MAX_ROWS:
                return w.fmt.cuda_matvec_q8_experts(xq, xds, w.data, ids, w.in_features, bias=bias, ids_ready=ids_ready,
                                                    out=out)
            if bias is None:
                return w.fmt.cuda_matmul_q8_experts(xq, xds, w.data, ids, w.in_features, out=out)
        return w.fmt.cuda_linear_experts(x, w.data, ids, w.in_features, bias=bias, out=out)

    def linear_experts(self, x, w: Weight, ids, bias: Weight | None = None):
        """Decode-size calls add an F32 bias inside the product kernel; otherwise as the base class."""
        if bias is not None and not self._fusable_bias(bias, ids):
            return super().linear_experts(x, w, ids, bias)
        return self._experts(x, w, ids, _f32_rows(bias))

    def linear_experts_swiglu_oai(self, x, gate: Weight, up: Weight, ids, gate_bias: Weight | None = None,
                                  up_bias: Weight | None = None, alpha: float = 1.702, limit: float = 7.0):
        """One launch on the int8 path at decode size (a warp reads a row of both weights); otherwise
        as the base class."""
        biases_fuse = all(b is None or self._fusable_bias(b, ids) for b in (gate_bias, up_bias))
        fused = (ids.shape[0] <= quant_cuda.MATVEC_MAX_ROWS and self._on_int8(gate) and gate.fmt is up.fmt
                 and gate.shape == up.shape and biases_fuse)
        if not fused:
            if self._on_int8(gate) and self._on_int8(up):
                x = self._quantized_view(x)  # gate and up read one quantization of x
            return super().linear_experts_swiglu_oai(x, gate, up, ids, gate_bias, up_bias, alpha, limit)
        xq, xds = self._int8(x)
        return gate.fmt.cuda_matvec_q8_experts_swiglu(
            xq, xds, gate.data, up.data, ids, gate.in_features, gate_bias=_f32_rows(gate_bias),
            up_bias=_f32_rows(up_bias), alpha=alpha, limit=limit, out=self._output((*ids.shape, gate.shape[1])))

    @staticmethod
    def _fusable_bias(bias: Weight, ids) -> bool:
        """Expert biases are added inside the matvec kernels (decode size) when stored as F32."""
        return ids.shape[0] <= quant_cuda.MATVEC_MAX_ROWS and bias.fmt.ggml_type == GGMLType.F32


def _f32_rows(bias: Weight | None):
    """An F32 weight's raw rows as the float32 array they are (None stays None)."""
    return None if bias is None else bias.data.view(np.float32)
