"""The NumPy backend: :mod:`runtime.ops_ref` for the ops, the formats' ``dequantize`` for weights.

Every tensor it returns lives in a buffer of its :class:`~runtime.backend.allocator.HostAllocator`
(op results are copied into one), so allocation failures and their rollback can be tested without
a GPU. Quantized weight data stays in the memory-mapped file (the host is where it already lives).
"""
from __future__ import annotations

from typing import Any, Callable

import numpy as np

from runtime import ops_ref
from runtime.backend.allocator import HostAllocator
from runtime.backend.base import Backend, Weight, raw_rows
from runtime.gguf.reader import TensorInfo

#: Weights up to this many elements keep a dequantized float32 copy; larger ones (big
#: embeddings, expert stacks) are dequantized per use, only the rows or experts needed.
CACHE_ELEMENTS = 1 << 24


def _allocated(op: Callable) -> Callable:
    """``op`` with its result(s) copied into allocator buffers, like a device op's outputs."""
    def method(self: "CpuBackend", *args: Any, **kwargs: Any) -> Any:
        result = op(*args, **kwargs)
        if result is None:
            return None
        if isinstance(result, tuple):
            return tuple(self.tensor(r) for r in result)
        return self.tensor(result)

    method.__name__, method.__doc__ = op.__name__, op.__doc__
    return method


class CpuBackend(Backend):
    name = "cpu"

    rms_norm = _allocated(ops_ref.rms_norm)
    layer_norm = _allocated(ops_ref.layer_norm)
    gelu_tanh = _allocated(ops_ref.gelu_tanh)
    add_bias_gelu = _allocated(ops_ref.add_bias_gelu)
    add = _allocated(ops_ref.add)
    add_bias = _allocated(ops_ref.add_bias)
    add_position_embedding = _allocated(ops_ref.add_position_embedding)
    split_columns = _allocated(ops_ref.split_columns)
    rope_neox = _allocated(ops_ref.rope_neox)
    kv_store = staticmethod(ops_ref.kv_store)
    attention = _allocated(ops_ref.attention)
    moe_router = _allocated(ops_ref.moe_router)
    swiglu_oai = _allocated(ops_ref.swiglu_oai)
    moe_combine = _allocated(ops_ref.moe_combine)
    argmax = _allocated(ops_ref.argmax)

    def __init__(self, reg=None, allocator=None):
        super().__init__(reg, allocator)
        self._dense: dict[str, np.ndarray] = {}

    def _default_allocator(self) -> HostAllocator:
        return HostAllocator()

    def _empty(self, shape: tuple[int, ...], dtype, what: str = "") -> np.ndarray:
        dtype = np.dtype(dtype)
        count = int(np.prod(shape, dtype=np.int64))
        return self.allocator.allocate(count * dtype.itemsize, what).view(dtype).reshape(shape)

    def tensor(self, array: np.ndarray) -> np.ndarray:
        array = np.asarray(array)
        dtype = np.int32 if np.issubdtype(array.dtype, np.integer) else np.float32
        out = self._empty(array.shape, dtype, f"tensor {array.shape}")
        self.write(out, array)
        return out

    def numpy(self, t: np.ndarray) -> np.ndarray:
        return np.array(t)

    def write(self, t: np.ndarray, array: np.ndarray) -> None:
        t[...] = array

    def zeros(self, shape: tuple[int, ...]) -> np.ndarray:
        out = self._empty(tuple(shape), np.float32, f"zeros {tuple(shape)}")
        out.fill(0.0)
        return out

    def weight(self, info: TensorInfo, raw: np.ndarray) -> Weight:
        fmt = self.format(info)
        w = Weight(info.name, info.shape, fmt, raw_rows(info, raw, fmt))
        if info.n_elements <= CACHE_ELEMENTS:
            self._dense[w.name] = self.tensor(self._dequantize(w.fmt, w.data))
        if self.upload_progress is not None:
            self.upload_progress(w.data.nbytes)
        return w

    @staticmethod
    def _dequantize(fmt, raw: np.ndarray) -> np.ndarray:
        return np.asarray(fmt.dequantize(raw), dtype=np.float32)

    def _values(self, w: Weight, index=slice(None)) -> np.ndarray:
        dense = self._dense.get(w.name)
        return dense[index] if dense is not None else self._dequantize(w.fmt, w.data[index])

    def linear(self, x: np.ndarray, w: Weight, bias: np.ndarray | None = None) -> np.ndarray:
        y = (x @ self._values(w).T).astype(np.float32)
        return self.tensor(y if bias is None else ops_ref.add_bias(y, bias))

    def embedding(self, w: Weight, ids: np.ndarray) -> np.ndarray:
        return self.tensor(self._values(w, np.asarray(ids, dtype=np.int64)))

    def _experts(self, x: np.ndarray, w: Weight, ids: np.ndarray) -> np.ndarray:
        n, k = ids.shape
        out = self.zeros((n, k, w.shape[1]))
        for e in np.unique(ids):
            tok, slot = np.nonzero(ids == e)
            inputs = x[tok, slot if x.shape[1] == k else 0]
            out[tok, slot] = inputs @ self._values(w, int(e)).T
        return out
