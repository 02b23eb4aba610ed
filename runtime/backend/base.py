"""The backend interface a model's forward pass is written against.

A backend owns memory (``tensor``/``numpy``/``zeros``/views), the elementwise and attention
ops (NumPy twins in :mod:`runtime.ops_ref`, CUDA launchers in :mod:`runtime.cuda.ops`), and the weight
consumers ``linear``/``embedding``/``linear_experts``, which dispatch on the weight's ggml type
through the quantization plugins, so quantized weights stay quantized in memory.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, Callable, ClassVar

import numpy as np

from runtime.backend.allocator import Allocator
from runtime.gguf.reader import TensorInfo
from runtime.plugins import Registry, registry
from runtime.quant import QuantFormat


@dataclass(frozen=True)
class Weight:
    """A weight as uploaded to a backend. ``shape`` is the logical NumPy-order shape;
    ``data`` is backend storage of the raw blocks, uint8 (*shape[:-1], row_bytes)."""

    name: str
    shape: tuple[int, ...]
    fmt: QuantFormat
    data: Any

    @property
    def in_features(self) -> int:
        return self.shape[-1]


def raw_rows(info: TensorInfo, raw: np.ndarray, fmt: QuantFormat) -> np.ndarray:
    """The tensor's bytes viewed as (*shape[:-1], row_bytes)."""
    return np.asarray(raw, dtype=np.uint8).reshape(*info.shape[:-1], fmt.row_bytes(info.shape[-1]))


class Backend(ABC):
    """One compute device. Tensors are float32 (activations) or int32 (ids, positions).

    Every tensor it creates comes from ``self.allocator`` (see :mod:`runtime.backend.allocator`);
    ``upload_progress``, when set, is called with the byte count of each piece of weight data uploaded.
    """

    name: ClassVar[str]

    def __init__(self, reg: Registry | None = None, allocator: Allocator | None = None):
        self.registry = reg or registry()
        self.allocator = allocator or self._default_allocator()
        self.upload_progress: Callable[[int], None] | None = None

    @abstractmethod
    def _default_allocator(self) -> Allocator:
        """The allocator used when the caller gives none."""

    # -- memory ------------------------------------------------------------
    @abstractmethod
    def tensor(self, array: np.ndarray) -> Any:
        """Upload a host array (float32 stays float32, integers become int32)."""

    @abstractmethod
    def numpy(self, t: Any) -> np.ndarray:
        """Copy a backend tensor to the host."""

    @abstractmethod
    def write(self, t: Any, array: np.ndarray) -> None:
        """Copy a host array of ``t``'s shape into ``t`` (same buffer, new values)."""

    #: whether :meth:`record` can record a call for replay (CUDA graphs)
    can_record: ClassVar[bool] = False

    def record(self, call: Callable[[], Any]) -> Any:
        """``call`` recorded for replay: an object whose ``launch()`` runs what ``call`` launched again
        and whose ``result`` is what ``call`` returned, rewritten by each launch. None where the
        recording fails (the runner then runs ``call`` itself each time)."""
        return None

    def greedy_feedback(self, logits: Any, ids: Any, positions: Any) -> None:
        """The end of a recorded decode step: the argmax of ``logits`` becomes the step's next token
        (written into ``ids``) and ``positions`` move on by one, on the device, so the step can run
        again without the host."""
        self.write(ids, self.numpy(self.argmax(logits)))
        self.write(positions, self.numpy(positions) + 1)

    def copy_to_host_async(self, t: Any) -> Callable[[], np.ndarray]:
        """Start copying ``t`` to the host; the returned function waits for the copy and returns it.
        Here synchronous; a device backend queues the copy behind the work already queued."""
        value = self.numpy(t)
        return lambda: value

    @abstractmethod
    def zeros(self, shape: tuple[int, ...]) -> Any:
        """A float32 tensor of zeros."""

    @staticmethod
    def reshape(t: Any, shape: tuple[int, ...]) -> Any:
        """A view of contiguous ``t`` with another shape."""
        return t.reshape(shape)

    @staticmethod
    def rows(t: Any, start: int, stop: int) -> Any:
        """A view of rows ``start:stop`` along the first axis."""
        return t[start:stop]

    # -- weights -----------------------------------------------------------
    def format(self, info: TensorInfo) -> QuantFormat:
        return self.registry.quant_format(info.ggml_type)

    @abstractmethod
    def weight(self, info: TensorInfo, raw: np.ndarray) -> Weight:
        """Upload a weight for the consumers below, keeping it in its ggml type."""

    def param(self, info: TensorInfo, raw: np.ndarray) -> Any:
        """A small parameter the ops read as float32 (norm weights, biases, sinks, position table)."""
        fmt = self.format(info)
        return self.tensor(fmt.dequantize(raw_rows(info, raw, fmt)).reshape(info.shape).astype(np.float32))

    @abstractmethod
    def linear(self, x: Any, w: Weight, bias: Any = None) -> Any:
        """x[n, in] @ w[out, in]^T (+ bias[out]) -> [n, out]."""

    @abstractmethod
    def embedding(self, w: Weight, ids: Any) -> Any:
        """Rows ``ids[n]`` of w[rows, cols] -> [n, cols] float32."""

    @abstractmethod
    def _experts(self, x: Any, w: Weight, ids: Any) -> Any:
        """x[n, x_rows, in] (x_rows 1 or k) through expert ids[n, k] of w[E, out, in] -> [n, k, out]."""

    def linear_experts(self, x: Any, w: Weight, ids: Any, bias: Weight | None = None) -> Any:
        """Per-token expert products; ``bias`` is a [E, out] weight whose rows are gathered by ``ids``."""
        y = self._experts(x, w, ids)
        if bias is None:
            return y
        n, k = ids.shape
        gathered = self.embedding(bias, self.reshape(ids, (n * k,)))
        return self.add(y, self.reshape(gathered, y.shape))

    def linear_experts_swiglu_oai(self, x: Any, gate: Weight, up: Weight, ids: Any, gate_bias: Weight | None = None,
                                  up_bias: Weight | None = None, alpha: float = 1.702, limit: float = 7.0) -> Any:
        """GPT-OSS's MoE gate and up products and the SwiGLU between them:
        swiglu_oai(linear_experts(x, gate, ids, gate_bias), linear_experts(x, up, ids, up_bias)).
        A device backend may run them as one product."""
        return self.swiglu_oai(self.linear_experts(x, gate, ids, gate_bias), self.linear_experts(x, up, ids, up_bias),
                               alpha, limit)

    def add_rms_norm(self, x: Any, y: Any, w: Any, eps: float) -> tuple[Any, Any]:
        """(x + y, rms_norm(x + y, w, eps)): a residual add and the norm after it. A device backend
        may run both in one pass."""
        total = self.add(x, y)
        return total, self.rms_norm(total, w, eps)

    # -- ops (see runtime.ops_ref for the semantics) -----------------------
    rms_norm: Any
    layer_norm: Any
    gelu_tanh: Any
    add_bias_gelu: Any
    add: Any
    add_bias: Any
    add_position_embedding: Any
    split_columns: Any
    rope_neox: Any
    kv_store: Any
    attention: Any
    moe_router: Any
    swiglu_oai: Any
    moe_combine: Any
    argmax: Any
