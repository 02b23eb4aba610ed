"""A minimal safetensors reader (memory-mapped, no torch): bf16 included, which NumPy lacks."""
from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np

from runtime.errors import ConfigError

_DTYPES = {"F32": np.float32, "F16": np.float16, "BF16": np.uint16, "U8": np.uint8, "I8": np.int8,
           "I32": np.int32, "I64": np.int64, "F64": np.float64}
_MAX_HEADER = 100 << 20


class SafetensorsDir:
    """Every tensor of the ``*.safetensors`` files in a checkpoint directory, by name."""

    def __init__(self, path: str | Path):
        files = sorted(Path(path).glob("*.safetensors"))
        if not files:
            raise ConfigError(f"{path}: no *.safetensors files")
        self._where: dict[str, tuple[np.memmap, dict]] = {}
        for f in files:
            data = np.memmap(f, dtype=np.uint8, mode="r")
            (n,) = struct.unpack("<Q", data[:8].tobytes())
            if n > min(_MAX_HEADER, data.size - 8):
                raise ConfigError(f"{f}: safetensors header length {n} is out of range")
            header = json.loads(data[8:8 + n].tobytes())
            header.pop("__metadata__", None)
            body = data[8 + n:]
            for name, entry in header.items():
                self._where[name] = (body, entry)

    def __contains__(self, name: str) -> bool:
        return name in self._where

    def names(self) -> list[str]:
        return list(self._where)

    def raw(self, name: str) -> np.ndarray:
        """The tensor in its stored dtype (bf16 as uint16 bit patterns)."""
        if name not in self._where:
            raise ConfigError(f"checkpoint has no tensor {name!r}")
        body, entry = self._where[name]
        dtype = _DTYPES.get(entry["dtype"])
        if dtype is None:
            raise ConfigError(f"tensor {name!r}: unsupported safetensors dtype {entry['dtype']}")
        start, stop = entry["data_offsets"]
        if not 0 <= start <= stop <= body.size:
            raise ConfigError(f"tensor {name!r}: data offsets {start}..{stop} lie outside the file")
        return body[start:stop].view(dtype).reshape(entry["shape"])

    def float32(self, name: str) -> np.ndarray:
        """The tensor as float32 (bf16 widened exactly)."""
        body, entry = self._where.get(name, (None, {}))
        values = self.raw(name)
        if entry.get("dtype") == "BF16":
            return (values.astype(np.uint32) << 16).view(np.float32)
        return values.astype(np.float32)
