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
