"""The quantization-format interface that quantization plugins implement.

A format serves one ggml type. It owns the NumPy reference of its math (dequantize,
and a quantizer for converters and synthetic models) and the CUDA sources of its
weight consumers. Models never look at the type: they ask the backend for
``linear(x, W)`` and W's format picks the code.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from typing import ClassVar

import numpy as np

from runtime import ggml_types
from runtime.cuda.source import CudaSource


class QuantFormat(ABC):
    """One ggml tensor type. Raw data is handled as uint8 arrays of shape (..., row_bytes)."""

    ggml_type: ClassVar[ggml_types.GGMLType]
    #: Whether the CUDA source also expands PLUGRT_Q8_KERNELS: decode products on int8 activations.
    int8_activations: ClassVar[bool] = False
    #: Alignment in bytes the CUDA kernels assume of a weight tensor's device address.
    device_alignment: ClassVar[int] = 1
    #: Resident blocks an SM that the grid of the streamed int8 decode products is sized to, for
    #: one matrix and for expert products (runtime.quant_cuda._stream_grid; expert products may
    #: take half as many, _expert_stream_grid); at most 8, the residency the kernels are compiled
    #: for. Fewer blocks give each warp more rows.
    stream_blocks_per_sm: ClassVar[tuple[int, int]] = (8, 8)
    #: Whether the CUDA source also expands PLUGRT_Q8_TWO_ROW_STREAM_KERNELS: streamed plain and
    #: expert products whose warps copy and compute two consecutive rows at a time, which the
    #: launcher takes where warps would take few rows (runtime.quant_cuda.TWO_ROW_ITEMS_MAX_ROWS).
    two_row_stream_items: ClassVar[bool] = False

    @property
    def name(self) -> str:
        return self.ggml_type.name

    @property
    def block_size(self) -> int:
        """Weights per block."""
        return ggml_types.block_geometry(self.ggml_type)[0]

    @property
    def type_size(self) -> int:
        """Bytes per block."""
        return ggml_types.block_geometry(self.ggml_type)[1]

    def row_bytes(self, n_elements: int) -> int:
        return ggml_types.row_bytes(self.ggml_type, n_elements)

    @abstractmethod
    def dequantize(self, raw: np.ndarray) -> np.ndarray:
        """uint8 (..., row_bytes) -> float32 (..., row_elements). The reference every kernel matches."""

    @abstractmethod
    def quantize(self, values: np.ndarray) -> np.ndarray:
        """float32 (..., n) with n a multiple of the block size -> uint8 (..., row_bytes)."""

    @abstractmethod
    def random(self, rng: np.random.Generator, shape: tuple[int, ...], scale: float = 0.02) -> np.ndarray:
        """Random raw data for a tensor of NumPy ``shape`` whose values are finite and of magnitude
        about ``scale``; fast enough to fill gigabytes (used by synthetic models)."""

    def cuda_sources(self) -> list[CudaSource]:
        """CUDA translation units of this format's kernels (compiled by CI with nvcc)."""
        return []

    # ------------------------------------------------------------------ CUDA weight consumers
    # Formats whose cuda_sources()[0] expands PLUGRT_QUANT_KERNELS(<cuda_prefix>, ...) from
    # runtime/cuda/include/quant_kernels.cuh get these launchers for free; see runtime/quant_cuda.py.

    @property
    def cuda_prefix(self) -> str:
        """Prefix of this format's kernel names (``<prefix>_matvec_nr1`` ...)."""
        return self.name.lower()

    def cuda_dequantize(self, w, n_cols: int, dtype=np.float32, *, stream=None, out=None):
        """uint8 [..., rows, row_bytes] -> [..., rows, n_cols] of float32, float16 or ``"bfloat16"``
        (bfloat16 comes back as uint16 bit patterns)."""
        from runtime import quant_cuda

        return quant_cuda.dequantize(self, w, n_cols, dtype, stream=stream, out=out)

    def cuda_embedding(self, w, ids, n_cols: int, *, stream=None, out=None):
        """Rows ``ids`` (int32 [n] on the device) of ``w`` as float32 [n, n_cols]."""
        from runtime import quant_cuda

        return quant_cuda.embedding(self, w, ids, n_cols, stream=stream, out=out)

    def cuda_matvec(self, x, w, in_features: int, *, bias=None, stream=None, out=None):
        """y[n, out] = x[n, in] @ W^T (+ bias[out]) with the fused dequantizing matrix-vector kernel
        (fp32 throughout)."""
        from runtime import quant_cuda

        return quant_cuda.matvec(self, x, w, in_features, bias=bias, stream=stream, out=out)

    def cuda_matmul(self, x, w, in_features: int, *, stream=None, out=None):
        """y[n, out] = x[n, in] @ W^T on tensor cores (fp16 inputs, fp32 accumulation)."""
        from runtime import quant_cuda

        return quant_cuda.matmul(self, x, w, in_features, stream=stream, out=out)

    def cuda_linear(self, x, w, in_features: int, *, stream=None, out=None):
        """y = x @ W^T: the matvec kernel for up to 8 rows of x, the tensor-core matmul beyond."""
        from runtime import quant_cuda

        return quant_cuda.linear(self, x, w, in_features, stream=stream, out=out)

    def cuda_linear_experts(self, x, w, ids, in_features: int, *, bias=None, stream=None, out=None):
        """MoE projection: x f32 [n_tok, x_rows, in] (x_rows 1 or k), w uint8 [E, out, row_bytes],
        ids int32 [n_tok, k] -> f32 [n_tok, k, out]; only the selected experts are read. ``bias``
        (f32 [E, out]) is added on the matvec path only (up to 8 tokens)."""
        from runtime import quant_cuda

        return quant_cuda.linear_experts(self, x, w, ids, in_features, bias=bias, stream=stream, out=out)

    def cuda_matvec_q8(self, xq, xds, w, in_features: int, *, bias=None, stream=None, out=None):
        """``cuda_matvec`` from int8 activations (``runtime.cuda.ops.quantize_q8``), dp4a products."""
        from runtime import quant_cuda

        return quant_cuda.matvec_q8(self, xq, xds, w, in_features, bias=bias, stream=stream, out=out)

    def cuda_matvec_q8_experts(self, xq, xds, w, ids, in_features: int, *, bias=None, ids_ready: bool = False,
                               stream=None, out=None):
        """The MoE projection of ``cuda_linear_experts`` from int8 activations, by matvec
        (``ids_ready``: see quant_cuda.matvec_q8_experts)."""
        from runtime import quant_cuda

        return quant_cuda.matvec_q8_experts(self, xq, xds, w, ids, in_features, bias=bias, ids_ready=ids_ready,
                                            stream=stream, out=out)

    def cuda_matmul_q8(self, xq, xds, w, in_features: int, *, stream=None, out=None):
        """``cuda_matmul`` from int8 activations, on int8 tensor cores (any number of rows)."""
        from runtime import quant_cuda

        return quant_cuda.matmul_q8(self, xq, xds, w, in_features, stream=stream, out=out)

    def cuda_matmul_q8_experts(self, xq, xds, w, ids, in_features: int, *, stream=None, out=None):
        """The MoE projection of ``cuda_linear_experts`` from int8 activations, on int8 tensor cores."""
        from runtime import quant_cuda

        return quant_cuda.matmul_q8_experts(self, xq, xds, w, ids, in_features, stream=stream, out=out)

    def cuda_matvec_q8_experts_swiglu(self, xq, xds, w_gate, w_up, ids, in_features: int, *, gate_bias=None,
                                      up_bias=None, alpha: float = 1.702, limit: float = 7.0, stream=None, out=None):
        """GPT-OSS's MoE gate, up and SwiGLU from int8 activations in one launch (see quant_cuda)."""
        from runtime import quant_cuda

        return quant_cuda.matvec_q8_experts_swiglu(self, xq, xds, w_gate, w_up, ids, in_features, gate_bias=gate_bias,
                                                   up_bias=up_bias, alpha=alpha, limit=limit, stream=stream, out=out)


def as_blocks(raw: np.ndarray, type_size: int) -> np.ndarray:
    """uint8 (..., row_bytes) -> (n_blocks, type_size), a view when ``raw`` is contiguous."""
    raw = np.ascontiguousarray(raw, dtype=np.uint8)
    if raw.shape[-1] % type_size:
        raise ValueError(f"row of {raw.shape[-1]} bytes is not a whole number of {type_size}-byte blocks")
    return raw.reshape(-1, type_size)


def random_bytes(rng: np.random.Generator, n: int) -> np.ndarray:
    """``n`` uniformly random bytes, fast enough for gigabytes."""
    return rng.integers(0, 256, size=n, dtype=np.uint8)


def half_bytes(values: np.ndarray) -> np.ndarray:
    """float values -> their fp16 bytes, shape (..., 2)."""
    return np.ascontiguousarray(values, dtype=np.float16).view(np.uint8).reshape(*np.shape(values), 2)
