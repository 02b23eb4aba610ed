"""The NumPy backend: :mod:`runtime.ops_ref` for the ops, the formats' ``dequantize`` for weights."""
from __future__ import annotations

import numpy as np

from runtime import ops_ref
from runtime.backend.base import Backend, Weight, raw_rows
from runtime.gguf.reader import TensorInfo

#: Weights up to this many elements keep a dequantized float32 copy; larger ones (big
#: embeddings, expert stacks) are dequantized per use, only the rows or experts needed.
CACHE_ELEMENTS = 1 << 24


class CpuBackend(Backend):
    name = "cpu"

    rms_norm = staticmethod(ops_ref.rms_norm)
    layer_norm = staticmethod(ops_ref.layer_norm)
    gelu_tanh = staticmethod(ops_ref.gelu_tanh)
    add_bias_gelu = staticmethod(ops_ref.add_bias_gelu)
    add = staticmethod(ops_ref.add)
    add_bias = staticmethod(ops_ref.add_bias)
    add_position_embedding = staticmethod(ops_ref.add_position_embedding)
    rope_neox = staticmethod(ops_ref.rope_neox)
    kv_store = staticmethod(ops_ref.kv_store)
    attention = staticmethod(ops_ref.attention)
    moe_router = staticmethod(ops_ref.moe_router)
    swiglu_oai = staticmethod(ops_ref.swiglu_oai)
    moe_combine = staticmethod(ops_ref.moe_combine)
    argmax = staticmethod(ops_ref.argmax)

    def __init__(self, reg=None):
        super().__init__(reg)
        self._dense: dict[str, np.ndarray] = {}

    def tensor(self, array: np.ndarray) -> np.ndarray:
        array = np.asarray(array)
        dtype = np.int32 if np.issubdtype(array.dtype, np.integer) else np.float32
        return np.ascontiguousarray(array, dtype=dtype)

    def numpy(self, t: np.ndarray) -> np.ndarray:
        return np.array(t)

    def zeros(self, shape: tuple[int, ...]) -> np.ndarray:
        return np.zeros(shape, dtype=np.float32)

    def weight(self, info: TensorInfo, raw: np.ndarray) -> Weight:
        fmt = self.format(info)
        w = Weight(info.name, info.shape, fmt, raw_rows(info, raw, fmt))
        if info.n_elements <= CACHE_ELEMENTS:
            self._dense[w.name] = self._dequantize(w.fmt, w.data)
        return w

    @staticmethod
    def _dequantize(fmt, raw: np.ndarray) -> np.ndarray:
        return np.asarray(fmt.dequantize(raw), dtype=np.float32)

    def _values(self, w: Weight, index=slice(None)) -> np.ndarray:
        dense = self._dense.get(w.name)
        return dense[index] if dense is not None else self._dequantize(w.fmt, w.data[index])

    def linear(self, x: np.ndarray, w: Weight, bias: np.ndarray | None = None) -> np.ndarray:
        y = (x @ self._values(w).T).astype(np.float32)
        return y if bias is None else self.add_bias(y, bias)

    def embedding(self, w: Weight, ids: np.ndarray) -> np.ndarray:
        return self._values(w, np.asarray(ids, dtype=np.int64))

    def _experts(self, x: np.ndarray, w: Weight, ids: np.ndarray) -> np.ndarray:
        n, k = ids.shape
        out = np.zeros((n, k, w.shape[1]), dtype=np.float32)
        for e in np.unique(ids):
            tok, slot = np.nonzero(ids == e)
            inputs = x[tok, slot if x.shape[1] == k else 0]
            out[tok, slot] = inputs @ self._values(w, int(e)).T
        return out
