"""Every quantization format's CUDA source compiles with nvcc for sm_80 and sm_90 (no GPU needed)."""
from __future__ import annotations

import shutil

import pytest

from runtime import quant_cuda
from runtime.cuda.source import INCLUDE_DIR, nvcc_compile
from runtime.ggml_types import GGMLType
from runtime.plugins import registry

TYPES = [GGMLType.F32, GGMLType.F16, GGMLType.BF16, GGMLType.MXFP4,
         GGMLType.Q8_0, GGMLType.Q5_0, GGMLType.Q4_K, GGMLType.Q6_K]


@pytest.fixture(scope="module", autouse=True)
def need_nvcc():
    if shutil.which("nvcc") is None:
        pytest.fail("nvcc is not on PATH; CI must provide the CUDA toolkit")


@pytest.mark.parametrize("arch", ["sm_80", "sm_90"])
@pytest.mark.parametrize("ggml_type", TYPES, ids=lambda t: t.name)
def test_format_sources_compile(ggml_type, arch):
    fmt = registry().quant_format(ggml_type)
    sources = fmt.cuda_sources()
    assert sources
    for source in sources:
        nvcc_compile(source, arch)


@pytest.mark.parametrize("ggml_type", TYPES, ids=lambda t: t.name)
def test_first_source_expands_the_generic_kernels_under_its_prefix(ggml_type):
    fmt = registry().quant_format(ggml_type)
    assert f"PLUGRT_QUANT_KERNELS({fmt.cuda_prefix}," in fmt.cuda_sources()[0].code


def test_generic_header_defines_every_kernel_the_launchers_call():
    header = (INCLUDE_DIR / "quant_kernels.cuh").read_text()
    for name in ("dequant_f32", "dequant_f16", "dequant_bf16", "matvec_experts", "matmul", "matmul_experts"):
        assert f"P##_{name}(" in header
    assert "P##_matvec_nr##NR(" in header
    # the launch grid depends on the rows per warp
    assert set(quant_cuda._MV_ROWS_PER_WARP.values()) == {1}
    assert "constexpr int mv_rows_per_warp(int) { return 1; }" in header
    for rows in quant_cuda._MV_ROWS_PER_WARP:
        assert f"PLUGRT_MATVEC_KERNEL(P, F, {rows})" in header
