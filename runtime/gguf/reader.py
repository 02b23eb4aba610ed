"""Hardened GGUF reader.

Every count, length, dimension and offset is checked against the bytes that are
really there *before* anything is allocated or viewed, so a hostile file can
only produce :class:`GGUFFormatError`. Tensor data stays memory-mapped.
"""
from __future__ import annotations

import logging
import mmap
import os
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from gguf.constants import GGUFValueType

from runtime import ggml_types
from runtime.errors import GGUFFormatError

log = logging.getLogger(__name__)

GGUF_MAGIC = b"GGUF"
SUPPORTED_VERSIONS = (2, 3)
DEFAULT_ALIGNMENT = 32
MAX_ARRAY_NESTING = 4
_INT64_MAX = 2**63 - 1
_METADATA_START = 24  # magic, version, tensor count, kv count

_SCALAR_FORMATS: dict[GGUFValueType, str] = {
    GGUFValueType.UINT8: "<B", GGUFValueType.INT8: "<b",
    GGUFValueType.UINT16: "<H", GGUFValueType.INT16: "<h",
    GGUFValueType.UINT32: "<I", GGUFValueType.INT32: "<i",
    GGUFValueType.UINT64: "<Q", GGUFValueType.INT64: "<q",
    GGUFValueType.FLOAT32: "<f", GGUFValueType.FLOAT64: "<d",
    GGUFValueType.BOOL: "<B",
}
_NUMPY_DTYPES: dict[GGUFValueType, str] = {
    GGUFValueType.UINT8: "<u1", GGUFValueType.INT8: "<i1",
    GGUFValueType.UINT16: "<u2", GGUFValueType.INT16: "<i2",
    GGUFValueType.UINT32: "<u4", GGUFValueType.INT32: "<i4",
    GGUFValueType.UINT64: "<u8", GGUFValueType.INT64: "<i8",
    GGUFValueType.FLOAT32: "<f4", GGUFValueType.FLOAT64: "<f8",
    GGUFValueType.BOOL: "<u1",
}


@dataclass(frozen=True, slots=True)
class TensorInfo:
    """One tensor's header record. ``shape`` is NumPy order (outermost first)."""

    name: str
    shape: tuple[int, ...]
    ggml_type: ggml_types.GGMLType
    offset: int  # absolute byte offset of the data in the file
    nbytes: int

    @property
    def n_elements(self) -> int:
        n = 1
        for d in self.shape:
            n *= d
        return n

    @property
    def type_name(self) -> str:
        return self.ggml_type.name


_U32 = struct.Struct("<I")
_U64 = struct.Struct("<Q")


class _Cursor:
    """Bounds-checked little-endian reads from a buffer."""

    def __init__(self, buf, path: str):
        self.buf, self.path, self.pos, self.size = buf, path, 0, len(buf)

    def fail(self, message: str, *, field: str, expected=None, found=None, offset=None):
        raise GGUFFormatError(message, path=self.path, offset=self.pos if offset is None else offset,
                              field=field, expected=expected, found=found)

    def need(self, n: int, field: str) -> None:
        if n < 0 or n > self.size - self.pos:
            self.fail("truncated: not enough bytes left", field=field,
                      expected=f"{n} bytes", found=f"{self.size - self.pos} bytes")

    def scalar(self, fmt: str, field: str):
        n = struct.calcsize(fmt)
        self.need(n, field)
        (v,) = struct.unpack_from(fmt, self.buf, self.pos)
        self.pos += n
        return v

    def u32(self, field: str) -> int:
        self.need(4, field)
        (v,) = _U32.unpack_from(self.buf, self.pos)
        self.pos += 4
        return v

    def u64(self, field: str) -> int:
        self.need(8, field)
        (v,) = _U64.unpack_from(self.buf, self.pos)
        self.pos += 8
        return v

    def string(self, field: str) -> str:
        start = self.pos
        n = self.u64(field + " (length)")
        self.need(n, field)
        raw = self.buf[self.pos:self.pos + n]
        self.pos += n
        try:
            return str(raw, "utf-8")
        except UnicodeDecodeError as e:
            self.fail("string is not valid UTF-8", field=field, offset=start,
                      expected="UTF-8", found=f"invalid byte at string offset {e.start}")

    def strings(self, count: int, field: str) -> list[str]:
        """``count`` strings in a row. Tokenizer arrays hold ~650k of them, so the common case
        runs a tight loop; any element that is short or not UTF-8 is re-read by :meth:`string`,
        which raises the precise error."""
        buf, size, unpack = self.buf, self.size, _U64.unpack_from
        out: list[str] = []
        append = out.append
        pos = self.pos
        for i in range(count):
            if size - pos >= 8:
                (n,) = unpack(buf, pos)
                if n <= size - pos - 8:
                    try:
                        append(str(buf[pos + 8:pos + 8 + n], "utf-8"))
                        pos += 8 + n
                        continue
                    except UnicodeDecodeError:
                        pass
            self.pos = pos
            append(self.string(f"{field}[{i}]"))
            pos = self.pos
        self.pos = pos
        return out


class GGUFFile:
    """An open, validated GGUF file. Use as a context manager or call :meth:`close`."""

    def __init__(self, path: str | os.PathLike):
        self.path = str(path)
        self._file = open(self.path, "rb")
        try:
            self.file_size = os.fstat(self._file.fileno()).st_size
            if self.file_size < 24:
                raise GGUFFormatError("file too small for a GGUF header", path=self.path, offset=0,
                                      field="header", expected=">= 24 bytes", found=f"{self.file_size} bytes")
            self._map = mmap.mmap(self._file.fileno(), 0, access=mmap.ACCESS_READ)
        except BaseException:
            self._file.close()
            raise
        try:
            self._parse()
        except BaseException:
            self.close()
            raise

    # -- parsing ---------------------------------------------------------
    def _parse(self) -> None:
        cur = _Cursor(self._map, self.path)
        magic = bytes(self._map[:4])
        if magic != GGUF_MAGIC:
            cur.fail("not a GGUF file", field="magic", expected=GGUF_MAGIC, found=magic)
        cur.pos = 4
        self.version = cur.u32("version")
        if self.version not in SUPPORTED_VERSIONS:
            swapped = int.from_bytes(self.version.to_bytes(4, "little"), "big")
            message = ("big-endian GGUF files are not supported" if swapped in SUPPORTED_VERSIONS
                       else "unsupported GGUF version")
            cur.fail(message, field="version", offset=4,
                     expected=" or ".join(map(str, SUPPORTED_VERSIONS)), found=self.version)
        n_tensors = cur.u64("tensor_count")
        n_kv = cur.u64("metadata_kv_count")
        # Each kv needs >= 8 (key len) + 4 (type) bytes; each tensor info >= 8 + 4 + 8 + 4 + 8.
        if n_kv * 12 > cur.size - cur.pos:
            cur.fail("metadata count exceeds file size", field="metadata_kv_count", offset=16,
                     expected=f"<= {(cur.size - cur.pos) // 12}", found=n_kv)
        if n_tensors * 32 > cur.size - cur.pos:
            cur.fail("tensor count exceeds file size", field="tensor_count", offset=8,
                     expected=f"<= {(cur.size - cur.pos) // 32}", found=n_tensors)
        self.metadata: dict[str, Any] = {}
        self.metadata_types: dict[str, GGUFValueType] = {}
        self._metadata_offsets: dict[str, int] = {}  # where each key's record starts, for errors
        for i in range(n_kv):
            key_at = cur.pos
            key = cur.string(f"metadata[{i}].key")
            if key in self.metadata:
                cur.fail("duplicate metadata key", field=key, offset=key_at,
                         expected="unique key", found=f"repeat of the key at byte {self._metadata_offsets[key]}")
            field = key or f"metadata[{i}] (empty key)"
            vtype = self._value_type(cur, field)
            self.metadata[key] = self._value(cur, vtype, field, depth=0)
            self.metadata_types[key] = vtype
            self._metadata_offsets[key] = key_at
        self.alignment = self._alignment(cur)
        infos = [self._tensor_info(cur, i) for i in range(n_tensors)]
        self.data_offset = -(-cur.pos // self.alignment) * self.alignment
        self.tensors: dict[str, TensorInfo] = {}
        for info_at, name, dims, gtype, rel_offset in infos:
            self._add_tensor(cur, info_at, name, dims, gtype, rel_offset)
        self._check_overlaps(cur)

    def _value_type(self, cur: _Cursor, field: str) -> GGUFValueType:
        at = cur.pos
        raw = cur.u32(field + " (type)")
        try:
            return GGUFValueType(raw)
        except ValueError:
            cur.fail("unknown metadata value type", field=field, offset=at,
                     expected="0..12", found=raw)

    def _value(self, cur: _Cursor, vtype: GGUFValueType, field: str, depth: int):
        if vtype == GGUFValueType.STRING:
            return cur.string(field)
        if vtype == GGUFValueType.ARRAY:
            return self._array(cur, field, depth)
        at = cur.pos
        v = cur.scalar(_SCALAR_FORMATS[vtype], field)
        if vtype == GGUFValueType.BOOL:
            if v not in (0, 1):
                cur.fail("bool value is not 0 or 1", field=field, offset=at, expected="0 or 1", found=v)
            return bool(v)
        return v

    def _array(self, cur: _Cursor, field: str, depth: int):
        if depth >= MAX_ARRAY_NESTING:
            cur.fail("arrays nested too deep", field=field, expected=f"<= {MAX_ARRAY_NESTING} levels",
                     found=depth + 1)
        etype = self._value_type(cur, field + " (array element type)")
        count_at = cur.pos
        count = cur.u64(field + " (array length)")
        remaining = cur.size - cur.pos
        if etype in _NUMPY_DTYPES:
            itemsize = struct.calcsize(_SCALAR_FORMATS[etype])
            if count > remaining // itemsize:
                cur.fail("array longer than the bytes left", field=field, offset=count_at,
                         expected=f"<= {remaining // itemsize} elements", found=count)
            arr = np.frombuffer(self._map, dtype=_NUMPY_DTYPES[etype], count=count, offset=cur.pos).copy()
            if etype == GGUFValueType.BOOL:
                bad = np.flatnonzero(arr > 1)
                if bad.size:
                    cur.fail("bool array holds a value other than 0 or 1", field=f"{field}[{bad[0]}]",
                             offset=cur.pos + int(bad[0]), expected="0 or 1", found=int(arr[bad[0]]))
                arr = arr.astype(bool)
            cur.pos += count * itemsize
            return arr
        min_item = 8 if etype == GGUFValueType.STRING else 12  # string: length; array: type + length
        if count > remaining // min_item:
            cur.fail("array longer than the bytes left", field=field, offset=count_at,
                     expected=f"<= {remaining // min_item} elements", found=count)
        if etype == GGUFValueType.STRING:
            return cur.strings(count, field)
        return [self._value(cur, etype, f"{field}[{i}]", depth + 1) for i in range(count)]

    def _alignment(self, cur: _Cursor) -> int:
        if "general.alignment" not in self.metadata:
            return DEFAULT_ALIGNMENT
        value, vtype = self.metadata["general.alignment"], self.metadata_types["general.alignment"]
        if vtype != GGUFValueType.UINT32 or value <= 0 or value & (value - 1):
            raise GGUFFormatError("general.alignment must be a power of two (uint32)", path=self.path,
                                  offset=self._metadata_offsets["general.alignment"], field="general.alignment",
                                  expected="uint32 power of two", found=f"{vtype.name} {value!r}")
        return value

    def _tensor_info(self, cur: _Cursor, i: int):
        info_at = cur.pos
        name = cur.string(f"tensor[{i}].name")
        field = f"tensor {name!r}"
        n_dims = cur.u32(f"{field}.n_dims")
        if not 1 <= n_dims <= ggml_types.MAX_DIMS:
            cur.fail("bad number of dimensions", field=f"{field}.n_dims", offset=cur.pos - 4,
                     expected=f"1..{ggml_types.MAX_DIMS}", found=n_dims)
        dims = []
        n_elements = 1
        for d in range(n_dims):
            dim = cur.u64(f"{field}.dims[{d}]")
            if dim == 0:
                cur.fail("dimension must be positive", field=f"{field}.dims[{d}]", offset=cur.pos - 8,
                         expected="> 0", found=dim)
            n_elements *= dim
            if n_elements > _INT64_MAX:
                cur.fail("element count overflows 64 bits", field=f"{field}.dims", offset=cur.pos - 8,
                         expected=f"<= {_INT64_MAX}", found=n_elements)
            dims.append(dim)
        type_at = cur.pos
        raw_type = cur.u32(f"{field}.type")
        if not ggml_types.is_known(raw_type):
            cur.fail("unknown ggml type", field=f"{field}.type", offset=type_at,
                     expected="a ggml type id", found=raw_type)
        rel_offset = cur.u64(f"{field}.offset")
        return info_at, name, tuple(dims), ggml_types.GGMLType(raw_type), rel_offset

    def _add_tensor(self, cur, info_at, name, dims, gtype, rel_offset) -> None:
        def fail(message, field, expected, found):
            raise GGUFFormatError(message, path=self.path, offset=info_at, field=f"tensor {name!r}.{field}",
                                  expected=expected, found=found)
        if name in self.tensors:
            fail("duplicate tensor name", "name", "unique name", "repeated")
        block, _ = ggml_types.block_geometry(gtype)
        if dims[0] % block:
            fail(f"row length is not a multiple of the {gtype.name} block size", "dims[0]",
                 f"multiple of {block}", dims[0])
        if rel_offset % self.alignment:
            fail("data offset is not aligned", "offset", f"multiple of {self.alignment}", rel_offset)
        nbytes = ggml_types.tensor_bytes(gtype, dims)
        start = self.data_offset + rel_offset
        if start + nbytes > self.file_size:
            fail("tensor data lies outside the file", "offset",
                 f"end <= file size {self.file_size}", f"end {start + nbytes}")
        self.tensors[name] = TensorInfo(name, tuple(reversed(dims)), gtype, start, nbytes)

    def _check_overlaps(self, cur) -> None:
        ordered = sorted(self.tensors.values(), key=lambda t: t.offset)
        for prev, nxt in zip(ordered, ordered[1:]):
            if nxt.offset < prev.offset + prev.nbytes:
                raise GGUFFormatError("tensor data overlaps another tensor", path=self.path,
                                      offset=nxt.offset, field=f"tensor {nxt.name!r}.offset",
                                      expected=f">= {prev.offset + prev.nbytes} (end of {prev.name!r})",
                                      found=nxt.offset)

    # -- access ----------------------------------------------------------
    @property
    def architecture(self) -> str:
        """``general.architecture``; a file without it (as a string) is malformed."""
        arch = self.metadata.get("general.architecture")
        if not isinstance(arch, str):
            missing = "general.architecture" not in self.metadata
            raise GGUFFormatError("no general.architecture string in metadata", path=self.path,
                                  offset=_METADATA_START if missing else self._metadata_offsets["general.architecture"],
                                  field="general.architecture", expected="string",
                                  found="missing" if missing else self.metadata_types["general.architecture"].name)
        return arch

    def raw(self, name: str) -> np.ndarray:
        """The tensor's bytes as a read-only uint8 view of the mapped file (no copy)."""
        t = self.tensors[name]
        return np.frombuffer(self._map, dtype=np.uint8, count=t.nbytes, offset=t.offset)

    def close(self) -> None:
        try:
            self._map.close()
        except BufferError:  # views still alive: the map closes when they go
            pass
        self._file.close()

    def __enter__(self) -> "GGUFFile":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"GGUFFile({self.path!r}, v{self.version}, {len(self.tensors)} tensors, {len(self.metadata)} keys)"


def open_gguf(path: str | os.PathLike) -> GGUFFile:
    """Open and validate a GGUF file; raises :class:`GGUFFormatError` on any malformation."""
    path = Path(path)
    log.debug("opening %s", path)
    return GGUFFile(path)
