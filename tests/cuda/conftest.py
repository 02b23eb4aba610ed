"""Fixtures of the GPU tests."""
import pytest


@pytest.fixture(scope="module")
def gpuarray():
    """pycuda.gpuarray, once a CUDA device is usable (the test skips otherwise)."""
    pytest.importorskip("pycuda")
    from runtime.cuda import device

    if not device.available():
        pytest.skip("no CUDA device")
    from pycuda import gpuarray

    return gpuarray
