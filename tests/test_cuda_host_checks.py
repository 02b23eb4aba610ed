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
