"""Build small GGUF byte strings for tests, remembering where every header field sits.

:class:`GGUFBuilder` writes exactly what it is told (duplicate keys, bad types, odd dims,
invalid UTF-8 given as ``bytes``), so malformed files can be built directly; :class:`Built`
then rewrites any recorded field in place (``with_field``) for mutation tests.

Field names: ``magic``, ``version``, ``tensor_count``, ``kv_count``; per metadata key
``KEY#key_len``, ``KEY#type``, ``KEY#value`` (scalars), ``KEY#len`` (strings),
``KEY#elem_type`` / ``KEY#count`` (arrays), ``KEY[j]#len`` / ``KEY[j]#elem_type`` /
``KEY[j]#count`` (array elements); per tensor ``NAME#name_len``, ``NAME#n_dims``,
``NAME#dim0``.., ``NAME#type``, ``NAME#offset`` (relative), ``NAME#data`` (absolute, 1 byte).
"""
from __future__ import annotations

import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from gguf.constants import GGUFValueType as V

from runtime import ggml_types
from runtime.ggml_types import GGMLType

SCALAR_FORMATS = {
    V.UINT8: "<B", V.INT8: "<b", V.UINT16: "<H", V.INT16: "<h", V.UINT32: "<I", V.INT32: "<i",
    V.UINT64: "<Q", V.INT64: "<q", V.FLOAT32: "<f", V.FLOAT64: "<d", V.BOOL: "<B",
}


#: Fields are recorded for the first elements of each array only (long arrays stay cheap to build).
RECORDED_ELEMENTS = 16


@dataclass(frozen=True)
class Arr:
    """An array value: ``items`` are numbers, ``str``/``bytes`` strings, or nested :class:`Arr`."""

    elem_type: int
    items: Any


@dataclass(frozen=True)
class FieldAt:
    offset: int
    fmt: str  # struct format of the field


@dataclass
class Built:
    data: bytes
    fields: dict[str, FieldAt]
    data_offset: int

    def with_field(self, name: str, value: int) -> bytes:
        """A copy with field ``name`` set to ``value`` (wrapped to the field's width)."""
        f = self.fields[name]
        width = struct.calcsize(f.fmt)
        raw = (value % (1 << (8 * width))).to_bytes(width, "little")
        return self.data[:f.offset] + raw + self.data[f.offset + width:]

    def field_value(self, name: str) -> int:
        """The field's bytes as an unsigned little-endian integer (what ``with_field`` writes)."""
        f = self.fields[name]
        return int.from_bytes(self.data[f.offset:f.offset + struct.calcsize(f.fmt)], "little")

    def write(self, path: Path, data: bytes | None = None) -> Path:
        Path(path).write_bytes(self.data if data is None else data)
        return Path(path)


@dataclass
class _Tensor:
    name: str | bytes
    dims: tuple[int, ...]  # ggml order (innermost first)
    ggml_type: int
    data: bytes
    offset: int | None


def _implied_nbytes(ggml_type: int, dims: tuple[int, ...]) -> int:
    """What type and shape imply, tolerant of invalid shapes (rounded up, 0 when meaningless)."""
    if not dims or not ggml_types.is_known(ggml_type):
        return 0
    block, size = ggml_types.block_geometry(ggml_type)
    n_rows = int(np.prod(dims[1:], dtype=object)) if len(dims) > 1 else 1
    return -(-dims[0] // block) * size * n_rows


@dataclass
class GGUFBuilder:
    version: int = 3
    alignment: int = 32  # used for layout; add a ``general.alignment`` kv yourself to declare it
    seed: int = 0
    _kvs: list[tuple[str | bytes, int, Any]] = field(default_factory=list)
    _tensors: list[_Tensor] = field(default_factory=list)

    def kv(self, key: str | bytes, vtype: int, value: Any) -> "GGUFBuilder":
        self._kvs.append((key, vtype, value))
        return self

    def tensor(self, name: str | bytes, dims: tuple[int, ...], ggml_type: int, *,
               data: bytes | None = None, offset: int | None = None) -> "GGUFBuilder":
        """Add a tensor; ``dims`` in ggml order. Data defaults to seeded random bytes of the implied size."""
        if data is None:
            rng = np.random.default_rng(self.seed + len(self._tensors))
            data = rng.integers(0, 256, _implied_nbytes(ggml_type, dims), dtype=np.uint8).tobytes()
        self._tensors.append(_Tensor(name, tuple(dims), int(ggml_type), data, offset))
        return self

    def build(self) -> Built:
        out = bytearray()
        fields: dict[str, FieldAt] = {}

        def put(name: str | None, fmt: str, value) -> None:
            if name is not None:
                fields[name] = FieldAt(len(out), fmt)
            out.extend(struct.pack(fmt, value))

        def put_string(name: str | None, s: str | bytes) -> None:
            raw = s.encode("utf-8") if isinstance(s, str) else s
            put(name, "<Q", len(raw))
            out.extend(raw)

        def put_value(prefix: str | None, vtype: int, value: Any, value_field: str | None) -> None:
            if vtype == V.STRING:
                put_string(prefix and prefix + "#len", value)
            elif vtype == V.ARRAY:
                put(prefix and prefix + "#elem_type", "<I", value.elem_type)
                put(prefix and prefix + "#count", "<Q", len(value.items))
                for j, item in enumerate(value.items):
                    named = j < RECORDED_ELEMENTS
                    put_value(f"{prefix}[{j}]" if named else None, value.elem_type, item,
                              f"{prefix}[{j}]#value" if named else None)
            else:
                put(value_field, SCALAR_FORMATS[V(vtype)], value)

        out.extend(b"GGUF")
        fields["magic"] = FieldAt(0, "<I")
        put("version", "<I", self.version)
        put("tensor_count", "<Q", len(self._tensors))
        put("kv_count", "<Q", len(self._kvs))
        for key, vtype, value in self._kvs:
            k = key if isinstance(key, str) else key.decode("utf-8", "replace")
            put_string(k + "#key_len", key)
            put(k + "#type", "<I", vtype)
            put_value(k, vtype, value, k + "#value")
        offsets = []
        next_offset = 0
        for t in self._tensors:
            offset = next_offset if t.offset is None else t.offset
            offsets.append(offset)
            next_offset = max(next_offset, -(-(offset + len(t.data)) // self.alignment) * self.alignment)
            n = t.name if isinstance(t.name, str) else t.name.decode("utf-8", "replace")
            put_string(n + "#name_len", t.name)
            put(n + "#n_dims", "<I", len(t.dims))
            for d, dim in enumerate(t.dims):
                put(f"{n}#dim{d}", "<Q", dim)
            put(n + "#type", "<I", t.ggml_type)
            put(n + "#offset", "<Q", offset)
        data_offset = -(-len(out) // self.alignment) * self.alignment
        out.extend(b"\0" * (data_offset - len(out)))
        for t, offset in zip(self._tensors, offsets):
            end = data_offset + offset
            if len(out) < end:
                out.extend(b"\0" * (end - len(out)))
            out[end:end + len(t.data)] = t.data
            n = t.name if isinstance(t.name, str) else t.name.decode("utf-8", "replace")
            if t.data:
                fields[n + "#data"] = FieldAt(end, "<B")
        out.extend(b"\0" * (-len(out) % self.alignment))
        return Built(bytes(out), fields, data_offset)


def minimal(arch: str = "test") -> GGUFBuilder:
    """One key, one F32 tensor: the smallest useful valid file."""
    return GGUFBuilder().kv("general.architecture", V.STRING, arch).tensor("w", (4, 2), GGMLType.F32)


def rich_seed(alignment: int = 32, version: int = 3) -> GGUFBuilder:
    """Every metadata value type, nested and string arrays, float and quantized tensors."""
    b = GGUFBuilder(version=version, alignment=alignment, seed=alignment)
    b.kv("general.architecture", V.STRING, "gpt-oss")
    if alignment != 32:
        b.kv("general.alignment", V.UINT32, alignment)
    b.kv("general.name", V.STRING, "tiny ✓")
    b.kv("t.u8", V.UINT8, 200).kv("t.i8", V.INT8, -5).kv("t.u16", V.UINT16, 60000)
    b.kv("t.i16", V.INT16, -300).kv("t.u32", V.UINT32, 4_000_000_000).kv("t.i32", V.INT32, -7)
    b.kv("t.u64", V.UINT64, 2**63 + 1).kv("t.i64", V.INT64, -(2**40)).kv("t.f32", V.FLOAT32, 1.5)
    b.kv("t.f64", V.FLOAT64, -2.25).kv("t.bool", V.BOOL, 1)
    b.kv("tokenizer.ggml.tokens", V.ARRAY, Arr(V.STRING, ["<s>", "a", "é", "", "hello"]))
    b.kv("tokenizer.ggml.scores", V.ARRAY, Arr(V.FLOAT32, [0.0, -1.0, -2.0, -3.0, 0.5]))
    b.kv("tokenizer.ggml.token_type", V.ARRAY, Arr(V.INT32, [1, 1, 1, 2, 1]))
    b.kv("t.flags", V.ARRAY, Arr(V.BOOL, [1, 0, 1]))
    b.kv("t.nested", V.ARRAY, Arr(V.ARRAY, [Arr(V.UINT16, [1, 2]), Arr(V.STRING, ["x"]), Arr(V.INT8, [])]))
    b.tensor("token_embd.weight", (64, 3), GGMLType.Q8_0)
    b.tensor("blk.0.ffn_up_exps.weight", (64, 2, 2), GGMLType.MXFP4)
    b.tensor("blk.0.attn_q.weight", (256, 2), GGMLType.Q4_K)
    b.tensor("blk.0.attn_norm.weight", (5,), GGMLType.F32)
    b.tensor("blk.0.attn_k.weight", (3, 3), GGMLType.F16)
    b.tensor("blk.0.ffn_down.weight", (32, 1, 1, 2), GGMLType.Q5_0)
    b.tensor("blk.0.attn_v.weight", (256,), GGMLType.Q6_K)
    b.tensor("t.bf16", (7,), GGMLType.BF16)
    b.tensor("t.i32", (1,), GGMLType.I32)
    return b
