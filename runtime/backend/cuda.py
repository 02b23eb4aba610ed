"""The PyCUDA backend: ``runtime.cuda.ops`` for the ops, the formats' ``cuda_*`` consumers for weights.

Weights are uploaded as their raw ggml blocks and stay quantized on the device.
"""
from __future__ import annotations

import numpy as np

from runtime.backend.base import Backend, Weight, raw_rows
from runtime.cuda import device
from runtime.cuda import ops as cuda_ops
from runtime.errors import OutOfDeviceMemory
from runtime.gguf.reader import TensorInfo


class CudaBackend(Backend):
    name = "cuda"

    rms_norm = staticmethod(cuda_ops.rms_norm)
    layer_norm = staticmethod(cuda_ops.layer_norm)
    gelu_tanh = staticmethod(cuda_ops.gelu_tanh)
    add_bias_gelu = staticmethod(cuda_ops.add_bias_gelu)
    add = staticmethod(cuda_ops.add)
    add_bias = staticmethod(cuda_ops.add_bias)
    add_position_embedding = staticmethod(cuda_ops.add_position_embedding)
    rope_neox = staticmethod(cuda_ops.rope_neox)
    kv_store = staticmethod(cuda_ops.kv_store)
    attention = staticmethod(cuda_ops.attention)
    moe_router = staticmethod(cuda_ops.moe_router)
    swiglu_oai = staticmethod(cuda_ops.swiglu_oai)
    moe_combine = staticmethod(cuda_ops.moe_combine)
    argmax = staticmethod(cuda_ops.argmax)

    def __init__(self, reg=None):
        super().__init__(reg)
        device.context()  # BackendUnavailableError when there is no usable GPU
        from pycuda import driver, gpuarray

        self._gpuarray, self._driver = gpuarray, driver

    def _upload(self, array: np.ndarray, what: str):
        try:
            return self._gpuarray.to_gpu(np.ascontiguousarray(array))
        except self._driver.MemoryError as e:
            raise OutOfDeviceMemory(f"{what}: {array.nbytes / 2**20:.1f} MiB do not fit on the GPU ({e})") from e

    def tensor(self, array: np.ndarray):
        array = np.asarray(array)
        dtype = np.int32 if np.issubdtype(array.dtype, np.integer) else np.float32
        return self._upload(array.astype(dtype, copy=False), f"tensor {array.shape}")

    def numpy(self, t) -> np.ndarray:
        return t.get()

    def zeros(self, shape: tuple[int, ...]):
        try:
            return self._gpuarray.zeros(shape, np.float32)
        except self._driver.MemoryError as e:
            raise OutOfDeviceMemory(f"zeros {shape}: {4 * int(np.prod(shape)) / 2**20:.1f} MiB do not fit "
                                    f"on the GPU ({e})") from e

    def weight(self, info: TensorInfo, raw: np.ndarray) -> Weight:
        fmt = self.format(info)
        return Weight(info.name, info.shape, fmt, self._upload(raw_rows(info, raw, fmt), info.name))

    def linear(self, x, w: Weight, bias=None):
        y = w.fmt.cuda_linear(x, w.data, w.in_features)
        return y if bias is None else cuda_ops.add_bias(y, bias, out=y)

    def embedding(self, w: Weight, ids):
        return w.fmt.cuda_embedding(w.data, ids, w.shape[-1])

    def _experts(self, x, w: Weight, ids):
        return w.fmt.cuda_linear_experts(x, w.data, ids, w.in_features)
