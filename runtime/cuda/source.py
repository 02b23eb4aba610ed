"""CUDA source units, kept free of pycuda so CI (no GPU, no driver) can compile them with nvcc."""
from __future__ import annotations

import hashlib
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

#: Headers shared by every kernel (math helpers, block decoders).
INCLUDE_DIR = Path(__file__).parent / "include"


@dataclass(frozen=True)
class CudaSource:
    """One translation unit. Kernels are declared ``extern "C" __global__`` so their names are plain."""

    name: str
    code: str
    include_dirs: tuple[Path, ...] = field(default=(INCLUDE_DIR,))

    @classmethod
    def from_file(cls, path: Path, extra_includes: tuple[Path, ...] = ()) -> "CudaSource":
        return cls(path.stem, path.read_text(), (INCLUDE_DIR, path.parent, *extra_includes))

    @property
    def digest(self) -> str:
        h = hashlib.sha256(self.code.encode())
        for d in self.include_dirs:
            for p in sorted(Path(d).glob("*.cuh")):
                h.update(p.read_bytes())
        return h.hexdigest()[:16]


NVCC_FLAGS = ("-std=c++17", "-O3", "--use_fast_math")


def nvcc_compile(source: CudaSource, arch: str, nvcc: str = "nvcc") -> None:
    """Compile ``source`` to a cubin for ``arch`` (e.g. ``sm_90``); raises CalledProcessError with
    nvcc's messages on failure. Needs no GPU."""
    with tempfile.TemporaryDirectory() as tmp:
        cu = Path(tmp) / f"{source.name}.cu"
        cu.write_text(source.code)
        cmd = [nvcc, *NVCC_FLAGS, f"-arch={arch}", "-cubin", "-o", str(Path(tmp) / "out.cubin"), str(cu)]
        cmd += [f"-I{d}" for d in source.include_dirs]
        subprocess.run(cmd, check=True, capture_output=True, text=True)
