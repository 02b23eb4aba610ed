"""ggml tensor types: block geometry and byte sizes, taken from gguf-py's tables."""
from __future__ import annotations

from gguf.constants import GGML_QUANT_SIZES, GGMLQuantizationType

GGMLType = GGMLQuantizationType

#: ggml's GGML_MAX_DIMS: a tensor has at most this many dimensions.
MAX_DIMS = 4


def is_known(type_id: int) -> bool:
    try:
        return GGMLType(type_id) in GGML_QUANT_SIZES
    except ValueError:
        return False


def block_geometry(ggml_type: GGMLType) -> tuple[int, int]:
    """(elements per block, bytes per block)."""
    return GGML_QUANT_SIZES[GGMLType(ggml_type)]


def row_bytes(ggml_type: GGMLType, n_elements: int) -> int:
    """Bytes taken by a row of ``n_elements`` (which must be a multiple of the block size)."""
    block, size = block_geometry(ggml_type)
    return n_elements // block * size


def tensor_bytes(ggml_type: GGMLType, shape_ggml: tuple[int, ...]) -> int:
    """Bytes of a tensor whose ggml shape (innermost first) is ``shape_ggml``."""
    n_rows = 1
    for d in shape_ggml[1:]:
        n_rows *= d
    return row_bytes(ggml_type, shape_ggml[0]) * n_rows


def type_name(ggml_type: int) -> str:
    try:
        return GGMLType(ggml_type).name
    except ValueError:
        return f"type{ggml_type}"
