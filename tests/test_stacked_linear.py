"""StackedLinear: q, k and v as one product over their stacked rows, split afterwards, give what
three products give; weights of different types stay separate."""
import numpy as np
import pytest
from gguf.constants import GGUFValueType as V
from gguf_factory import GGUFBuilder

from runtime.backend.cpu import CpuBackend
from runtime.ggml_types import GGMLType
from runtime.gguf.reader import open_gguf
from runtime.stacked_linear import StackedLinear

WIDTHS = (8, 4, 4)
IN = 32


def _file(tmp_path, v_type: GGMLType):
    rng = np.random.default_rng(0)
    b = GGUFBuilder().kv("general.architecture", V.STRING, "test")
    arrays = {}
    for name, rows in zip("qkv", WIDTHS):
        w = rng.standard_normal((rows, IN)).astype(np.float32)
        dtype = np.float16 if (name == "v" and v_type == GGMLType.F16) else np.float32
        arrays[name] = w.astype(dtype).astype(np.float32)
        b.tensor(f"{name}.weight", (IN, rows), GGMLType.F16 if dtype == np.float16 else GGMLType.F32,
                 data=w.astype(dtype).tobytes())
        bias = rng.standard_normal(rows).astype(np.float32)
        arrays[f"{name}_bias"] = bias
        b.tensor(f"{name}.bias", (rows,), GGMLType.F32, data=bias.tobytes())
    return b.build().write(tmp_path / "m.gguf"), arrays


def _load(path):
    gguf = open_gguf(path)
    return StackedLinear.load(gguf, CpuBackend(), [f"{p}.weight" for p in "qkv"], [f"{p}.bias" for p in "qkv"],
                              "qkv.weight")


@pytest.mark.parametrize("v_type", [GGMLType.F32, GGMLType.F16], ids=["one-type", "mixed-types"])
def test_parts_equal_separate_products(tmp_path, v_type):
    path, arrays = _file(tmp_path, v_type)
    stacked = _load(path)
    assert len(stacked.weights) == (1 if v_type == GGMLType.F32 else 3) and stacked.widths == WIDTHS
    x = np.random.default_rng(1).standard_normal((5, IN)).astype(np.float32)
    backend = CpuBackend()
    for name, got in zip("qkv", stacked(backend, backend.tensor(x))):
        want = x @ arrays[name].T + arrays[f"{name}_bias"]
        np.testing.assert_allclose(backend.numpy(got), want, rtol=1e-5, atol=1e-5)
