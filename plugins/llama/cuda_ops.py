"""CUDA launchers of the llama plugin's ops (kernels/llama_ops.cu); twins in :mod:`plugins.llama.ops_ref`.

pycuda ``GPUArray`` in and out, float32 activations, int32 positions, on plugrt's stream like the
shared launchers. Nothing here imports pycuda: kernels come from :func:`runtime.cuda.device.kernel`.
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np

from runtime.cuda import device
from runtime.cuda.ops import is_c_contiguous
from runtime.cuda.source import CudaSource

SOURCE_PATH = Path(__file__).parent / "kernels" / "llama_ops.cu"
#: head dims served by ``attention_wide`` (the shared attention kernel covers 64 and 128)
WIDE_HEAD_DIMS = (256,)
_THREADS = 256
_MAX_BLOCKS = 65535
_WIDE_WARPS = 8


def cuda_source() -> CudaSource:
    return CudaSource.from_file(SOURCE_PATH)


@lru_cache(maxsize=None)
def _kernel(name: str, signature: str):
    fn = device.kernel(cuda_source(), name)
    fn.prepare(signature)
    return fn


def _check(array, name: str, dtype=np.float32, shape: tuple | None = None) -> None:
    if array.dtype != dtype:
        raise ValueError(f"{name}: expected dtype {np.dtype(dtype)}, got {array.dtype}")
    if not is_c_contiguous(array):
        raise ValueError(f"{name}: must be C-contiguous")
    if shape is not None and tuple(array.shape) != tuple(shape):
        raise ValueError(f"{name}: expected shape {tuple(shape)}, got {tuple(array.shape)}")


def _like(array, shape=None):
    return type(array)(tuple(array.shape if shape is None else shape), np.float32, allocator=array.allocator)


def _grid(count: int) -> tuple[int, int, int]:
    return (max(1, min(_MAX_BLOCKS, -(-count // _THREADS))), 1, 1)


def _gated(name: str, gate, up):
    _check(gate, "gate")
    _check(up, "up", shape=gate.shape)
    out = _like(gate)
    _kernel(name, "PPPi").prepared_async_call(_grid(gate.size), (_THREADS, 1, 1), device.stream(), gate.ptr,
                                              up.ptr, out.ptr, gate.size)
    return out


def swiglu(gate, up):
    return _gated("swiglu", gate, up)


def geglu(gate, up):
    return _gated("geglu", gate, up)


def scale(x, factor: float):
    _check(x, "x")
    out = _like(x)
    _kernel("scale", "PPif").prepared_async_call(_grid(x.size), (_THREADS, 1, 1), device.stream(), x.ptr,
                                                 out.ptr, x.size, float(factor))
    return out


def attention_wide(q, k_cache, v_cache, positions, scale: float, window: int = 0):
    """Causal attention of q[n, hq, dh] (dh in WIDE_HEAD_DIMS) over a (ring) cache [cap, hkv, dh]."""
    n, hq, dh = q.shape
    cap, hkv, _ = k_cache.shape
    _check(q, "q")
    _check(k_cache, "k_cache")
    _check(v_cache, "v_cache", shape=k_cache.shape)
    _check(positions, "positions", np.int32, (n,))
    if dh not in WIDE_HEAD_DIMS or k_cache.shape[2] != dh or hq % hkv:
        raise ValueError(f"attention_wide: q {tuple(q.shape)} does not fit cache {tuple(k_cache.shape)} "
                         f"(head dims {WIDE_HEAD_DIMS})")
    out = _like(q)
    _kernel(f"attention_wide_dh{dh}", "PPPPPiiiif").prepared_async_call(
        (n * hq, 1, 1), (_WIDE_WARPS * 32, 1, 1), device.stream(), q.ptr, k_cache.ptr, v_cache.ptr,
        positions.ptr, out.ptr, hq, hkv, cap, int(window), float(scale))
    return out
