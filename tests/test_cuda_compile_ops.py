"""Every kernel unit under runtime/cuda/kernels compiles with nvcc for Ampere and Hopper (no GPU needed)."""
from __future__ import annotations

import shutil
import subprocess

import pytest

from runtime.cuda.ops import KERNEL_DIR
from runtime.cuda.source import CudaSource, nvcc_compile

KERNEL_FILES = sorted(KERNEL_DIR.glob("*.cu"))

pytestmark = pytest.mark.skipif(shutil.which("nvcc") is None, reason="nvcc not installed")


def test_kernel_dir_holds_the_ops_units():
    assert {p.stem for p in KERNEL_FILES} >= {"attention", "elementwise", "kv_cache", "moe", "norms", "rope"}


@pytest.mark.parametrize("arch", ["sm_80", "sm_90"])
@pytest.mark.parametrize("path", KERNEL_FILES, ids=lambda p: p.stem)
def test_kernel_unit_compiles(path, arch):
    try:
        nvcc_compile(CudaSource.from_file(path), arch)
    except subprocess.CalledProcessError as e:
        pytest.fail(f"nvcc failed on {path.name} for {arch}:\n{e.stderr}")
