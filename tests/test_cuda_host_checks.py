"""Host-side helpers of the CUDA ops that need no GPU."""
from __future__ import annotations

import numpy as np
import pytest

from runtime.cuda.ops import is_c_contiguous

_BASE = np.zeros((4, 6, 8), np.float32)
VIEWS = {
    "whole": _BASE, "leading rows": _BASE[1:3], "middle slice": _BASE[:, 1:3], "every other": _BASE[..., ::2],
    "transposed": _BASE.transpose(1, 0, 2), "one column": _BASE[:, :1], "one row, part": _BASE[2:3, :, 1:5],
    "one row, whole": _BASE[1:2], "empty": _BASE[:, :0], "strided rows": _BASE.reshape(24, 8)[::3],
    "one by strided": np.zeros((1, 5), np.int8)[:, ::2], "ones": _BASE[:1, :1, :], "scalar row": _BASE[0, 0, 3:4],
}


@pytest.mark.parametrize("name", VIEWS)
def test_is_c_contiguous_agrees_with_numpy(name):
    view = VIEWS[name]
    assert is_c_contiguous(view) == view.flags.c_contiguous


class _DeviceRows:
    """Stands in for a GPUArray of raw weight rows at a chosen device address."""

    def __init__(self, rows: int, row_bytes: int, address: int):
        self.shape, self.dtype, self.gpudata = (rows, row_bytes), np.dtype(np.uint8), address
        self.strides = (row_bytes, 1)


@pytest.mark.parametrize("offset", [0, 4, 8])
def test_weights_at_an_address_the_kernels_cannot_read_are_refused(offset):
    from runtime.ggml_types import GGMLType
    from runtime.plugins import registry
    from runtime.quant_cuda import _check_weight

    q4_k, q8_0 = (registry().quant_format(t) for t in (GGMLType.Q4_K, GGMLType.Q8_0))
    address = 0x7F0000000000 + offset
    assert _check_weight(q8_0, _DeviceRows(3, q8_0.row_bytes(256), address), 256, 2) == q8_0.row_bytes(256)
    rows = _DeviceRows(3, q4_k.row_bytes(256), address)
    if offset % 16:
        with pytest.raises(ValueError, match=f"Q4_K: weights must start at a multiple of 16 bytes, w starts at {address:#x}"):
            _check_weight(q4_k, rows, 256, 2)
    else:
        assert _check_weight(q4_k, rows, 256, 2) == 144


@pytest.fixture
def quant_cuda_of_132_sms(monkeypatch):
    """runtime.quant_cuda sizing grids for an H100/H200's 132 SMs, without a GPU."""
    from runtime import quant_cuda

    monkeypatch.setattr(quant_cuda.device, "sm_count", lambda: 132)
    return quant_cuda


@pytest.mark.parametrize("n_out, pairs, most, want", [
    (5760, 4, 8, (132, 4, 1)),  # 6 rows a warp at 8 blocks an SM, 11 at 4: 48 against 44
    (2880, 4, 8, (264, 4, 1)),  # 3 rows against 6: a tie keeps 8 blocks an SM
    (2880, 4, 2, (66, 4, 1)),   # 11 rows against 22: a tie again
    (5760, 4, 1, (33, 4, 1)),   # no half of one block
    (64, 1, 8, (16, 1, 1)),     # no more warps than rows
])
def test_expert_grid_takes_the_shorter_estimate(quant_cuda_of_132_sms, n_out, pairs, most, want):
    assert quant_cuda_of_132_sms._expert_stream_grid(n_out, pairs, most) == want


@pytest.mark.parametrize("n_out, pairs, most, want", [
    (2880, 4, 8, (132, 4, 1)),  # 1440 two-row items: 2 a warp at 8 blocks an SM, 3 at 4: 16 against 12
    (5760, 4, 8, (264, 4, 1)),  # 2880 items: 3 against 6, a tie keeps 8
    (64, 1, 8, (8, 1, 1)),      # no more warps than items
])
def test_expert_grid_of_two_row_items(quant_cuda_of_132_sms, n_out, pairs, most, want):
    assert quant_cuda_of_132_sms._expert_stream_grid(n_out, pairs, most, 2) == want


@pytest.mark.parametrize("n_out, pairs, want", [
    (2880, 4, ("_r2", (132, 4, 1))),  # 3 rows a warp one at a time
    (4096, 1, ("_r2", (512, 1, 1))),  # 1 row a warp: a warp an item
    (5760, 4, ("", (132, 4, 1))),     # 11 rows a warp
    (3170, 4, ("", (132, 4, 1))),     # 7 rows a warp at the most (4 blocks an SM)
    (2881, 4, ("", (264, 4, 1))),     # no whole two-row items
])
def test_two_row_items_where_warps_take_few_rows(quant_cuda_of_132_sms, n_out, pairs, want):
    from plugins.quant_mxfp4.mxfp4 import MXFP4Format
    from plugins.quant_q4km.q8_0 import Q8_0Format

    quant_cuda = quant_cuda_of_132_sms
    blocks_per_sm = MXFP4Format.stream_blocks_per_sm[1]
    grid_of = lambda rows: quant_cuda._expert_stream_grid(n_out, pairs, blocks_per_sm, rows)  # noqa: E731
    assert quant_cuda._stream_variant(MXFP4Format(), n_out, grid_of) == want
    assert quant_cuda._stream_variant(Q8_0Format(), n_out, grid_of) == ("", grid_of(1))  # has no two-row kernels


@pytest.mark.parametrize("n_out, pairs, most, want", [
    (2880, 4, 8, (132, 4, 1)),    # 5760 gate and up rows: 6 a warp at 8 blocks an SM, 11 at 4
    (2880, 128, 8, (45, 128, 1)),  # 8 blocks a pair would give some 360 output rows; 64 at most
    (100, 1, 8, (50, 1, 1)),      # no more warps than gate and up rows
])
def test_swiglu_grid_deals_gate_and_up_rows(quant_cuda_of_132_sms, n_out, pairs, most, want):
    assert quant_cuda_of_132_sms._swiglu_stream_grid(n_out, pairs, most) == want
