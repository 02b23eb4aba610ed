"""Streaming GGUF v3 writer: header first, then tensor data produced one tensor at a time,
so files larger than memory (the 12 GB synthetic presets) can be written."""
from __future__ import annotations

import logging
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Callable

import numpy as np
from gguf.constants import GGUFValueType

from runtime import ggml_types
from runtime.gguf.reader import DEFAULT_ALIGNMENT, GGUF_MAGIC, _NUMPY_DTYPES, _SCALAR_FORMATS
from runtime.progress import progress_bar

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Typed:
    """A metadata value with an explicit GGUF type (``element_type`` for arrays)."""

    type: GGUFValueType
    value: Any
    element_type: GGUFValueType | None = None


@dataclass(frozen=True)
class TensorSpec:
    """A tensor to write. ``shape`` is NumPy order; ``data`` returns its raw bytes when called."""

    name: str
    shape: tuple[int, ...]
    ggml_type: ggml_types.GGMLType
    data: Callable[[], np.ndarray | bytes]

    @property
    def nbytes(self) -> int:
        return ggml_types.tensor_bytes(self.ggml_type, tuple(reversed(self.shape)))


def _infer(value: Any) -> Typed:
    if isinstance(value, Typed):
        return value
    if isinstance(value, bool):
        return Typed(GGUFValueType.BOOL, value)
    if isinstance(value, (int, np.integer)):
        value = int(value)
        if 0 <= value < 2**32:
            return Typed(GGUFValueType.UINT32, value)
        if -(2**63) <= value < 2**63:
            return Typed(GGUFValueType.INT64, value)
        if 2**63 <= value < 2**64:
            return Typed(GGUFValueType.UINT64, value)
        raise ValueError(f"integer {value} does not fit in 64 bits")
    if isinstance(value, (float, np.floating)):
        return Typed(GGUFValueType.FLOAT32, float(value))
    if isinstance(value, str):
        return Typed(GGUFValueType.STRING, value)
    if isinstance(value, np.ndarray):
        for vt, dt in _NUMPY_DTYPES.items():
            if vt != GGUFValueType.BOOL and np.dtype(dt) == value.dtype.newbyteorder("<"):
                return Typed(GGUFValueType.ARRAY, value, vt)
        if value.dtype == bool:
            return Typed(GGUFValueType.ARRAY, value, GGUFValueType.BOOL)
        raise TypeError(f"no GGUF type for array dtype {value.dtype}")
    if isinstance(value, (list, tuple)):
        if all(isinstance(v, str) for v in value):
            return Typed(GGUFValueType.ARRAY, list(value), GGUFValueType.STRING)
        if all(isinstance(v, (bool, np.bool_)) for v in value):
            return Typed(GGUFValueType.ARRAY, np.asarray(value, dtype=bool), GGUFValueType.BOOL)
        if all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in value):
            return Typed(GGUFValueType.ARRAY, np.asarray(value, dtype="<i4"), GGUFValueType.INT32)
        if all(isinstance(v, (int, float)) for v in value):
            return Typed(GGUFValueType.ARRAY, np.asarray(value, dtype="<f4"), GGUFValueType.FLOAT32)
    raise TypeError(f"no GGUF type for {type(value).__name__}")


def _encode_string(s: str) -> bytes:
    raw = s.encode("utf-8")
    return struct.pack("<Q", len(raw)) + raw


def _encode_value(t: Typed) -> bytes:
    if t.type == GGUFValueType.STRING:
        return _encode_string(t.value)
    if t.type == GGUFValueType.ARRAY:
        et = t.element_type
        head = struct.pack("<IQ", et, len(t.value))
        if et == GGUFValueType.STRING:
            return head + b"".join(_encode_string(s) for s in t.value)
        return head + np.asarray(t.value).astype(_NUMPY_DTYPES[et]).tobytes()
    return struct.pack(_SCALAR_FORMATS[t.type], t.value)


class GGUFWriter:
    """Collects metadata and tensor specs, then writes the file in one pass."""

    def __init__(self, alignment: int = DEFAULT_ALIGNMENT):
        if not 0 < alignment < 2**32 or alignment & (alignment - 1):
            raise ValueError(f"alignment must be a power of two below 2**32, not {alignment}")
        self.alignment = alignment
        self.metadata: dict[str, Typed] = {}
        self.tensors: list[TensorSpec] = []
        if alignment != DEFAULT_ALIGNMENT:
            self.metadata["general.alignment"] = Typed(GGUFValueType.UINT32, alignment)

    def add(self, key: str, value: Any) -> None:
        if key in self.metadata:
            raise ValueError(f"duplicate metadata key {key!r}")
        self.metadata[key] = _infer(value)

    def add_tensor(self, spec: TensorSpec) -> None:
        self.tensors.append(spec)

    def add_array(self, name: str, array: np.ndarray, ggml_type: ggml_types.GGMLType | None = None) -> None:
        """Add an in-memory tensor: float32/float16 arrays, or raw uint8 blocks with ``ggml_type``."""
        if ggml_type is None:
            ggml_type = {np.dtype(np.float32): ggml_types.GGMLType.F32,
                         np.dtype(np.float16): ggml_types.GGMLType.F16}[array.dtype]
            shape = array.shape
        else:
            block, size = ggml_types.block_geometry(ggml_type)
            shape = (*array.shape[:-1], array.shape[-1] // size * block)
        self.add_tensor(TensorSpec(name, tuple(shape), ggml_type, lambda a=array: a))

    def _header(self) -> bytes:
        parts = [GGUF_MAGIC, struct.pack("<IQQ", 3, len(self.tensors), len(self.metadata))]
        for key, typed in self.metadata.items():
            parts += [_encode_string(key), struct.pack("<I", typed.type), _encode_value(typed)]
        offset = 0
        for t in self.tensors:
            dims = tuple(reversed(t.shape))
            parts += [_encode_string(t.name), struct.pack(f"<I{len(dims)}QIQ", len(dims), *dims, t.ggml_type, offset)]
            offset += -(-t.nbytes // self.alignment) * self.alignment
        return b"".join(parts)

    def write(self, path: str | Path, *, show_progress: bool | None = None) -> None:
        path = Path(path)
        total = sum(t.nbytes for t in self.tensors)
        log.info("writing %s: %d tensors, %.2f GiB", path, len(self.tensors), total / 2**30)
        with open(path, "wb") as f, progress_bar(total, f"writing {path.name}", show_progress) as bar:
            header = self._header()
            f.write(header)
            self._pad(f, len(header))
            for t in self.tensors:
                self._write_tensor(f, t)
                bar.update(t.nbytes)

    def _write_tensor(self, f: BinaryIO, t: TensorSpec) -> None:
        data = t.data()
        raw = data.tobytes() if isinstance(data, np.ndarray) else bytes(data)
        if len(raw) != t.nbytes:
            raise ValueError(f"tensor {t.name!r}: {len(raw)} bytes produced, {t.nbytes} expected "
                             f"for {t.ggml_type.name} {t.shape}")
        f.write(raw)
        self._pad(f, len(raw))

    def _pad(self, f: BinaryIO, written: int) -> None:
        f.write(b"\0" * (-written % self.alignment))
