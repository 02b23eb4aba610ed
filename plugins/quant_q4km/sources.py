"""The CUDA source of each format of this plugin (one translation unit per format)."""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from runtime.cuda.source import CudaSource


@lru_cache(maxsize=None)
def cuda_source(stem: str) -> CudaSource:
    return CudaSource.from_file(Path(__file__).with_name(f"{stem}.cu"))
