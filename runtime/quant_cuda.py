"""Python launchers of the generic weight-consumer kernels (runtime/cuda/include/quant_kernels.cuh).

Every format's first CUDA source expands ``PLUGRT_QUANT_KERNELS(<fmt.cuda_prefix>, ...)``, so one
set of launchers serves all formats. Tensors are ``pycuda.gpuarray.GPUArray``; weights are raw
uint8 [rows, row_bytes] (or [E, rows, row_bytes]), activations float32. Kernels are prepared once
per (format, kernel) and launched with ``prepared_async_call``.
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np

from runtime.cuda import device

#: Largest number of activation rows the fused matvec kernel takes in one launch.
MATVEC_MAX_ROWS = 8
#: Must match MV_WARPS, mv_rows_per_warp, MM_BM, MM_BN and MM_THREADS in quant_kernels.cuh.
_MV_WARPS = 4
_MV_ROWS_PER_WARP = {1: 1, 2: 1, 4: 1, 8: 1}
_MM_BM = 64
_MM_BN = 64
_MM_THREADS = 128
_DEQUANT_THREADS = 256
_MAX_GRID_X = 2**31 - 1

_SIGNATURES = {
    "dequant": "PPPiiii",
    "matvec": "PPPiiii",
    "matvec_experts": "PPPPiiiiiii",
    "matmul": "PPPiiii",
    "matmul_experts": "PPPPiiiiiii",
}
_DEQUANT_SUFFIX = {np.dtype(np.float32): "f32", np.dtype(np.float16): "f16", "bfloat16": "bf16"}


@lru_cache(maxsize=None)
def _prepared(fmt, kernel_name: str, signature: str):
    fn = device.kernel(fmt.cuda_sources()[0], f"{fmt.cuda_prefix}_{kernel_name}")
    fn.prepare(signature)
    return fn


def _launch(fmt, kernel_name: str, kind: str, grid, block, stream, *args) -> None:
    fn = _prepared(fmt, kernel_name, _SIGNATURES[kind])
    fn.prepared_async_call(grid, block, stream or device.stream(), *(int(a) for a in args))


def _empty(shape, dtype, out):
    from pycuda import gpuarray

    if out is None:
        return gpuarray.empty(shape, dtype)
    if tuple(out.shape) != tuple(shape) or out.dtype != np.dtype(dtype):
        raise ValueError(f"out must be {np.dtype(dtype).name} {tuple(shape)}, got {out.dtype.name} {tuple(out.shape)}")
    return out


def _check(name: str, arr, dtype, ndim: int | None = None) -> None:
    if arr.dtype != np.dtype(dtype):
        raise TypeError(f"{name} must be {np.dtype(dtype).name}, got {arr.dtype.name}")
    if ndim is not None and len(arr.shape) != ndim:
        raise ValueError(f"{name} must have {ndim} dimensions, got shape {tuple(arr.shape)}")
    if not arr.flags.c_contiguous:
        raise ValueError(f"{name} must be C-contiguous")


def _check_weight(fmt, w, n_cols: int, ndim: int) -> int:
    """Validates raw weights against ``n_cols``; returns the row size in bytes."""
    _check("w", w, np.uint8, ndim)
    if n_cols % fmt.block_size or n_cols % 4:
        raise ValueError(f"{fmt.name}: {n_cols} columns is not a multiple of the block size {fmt.block_size} and of 4")
    row_bytes = fmt.row_bytes(n_cols)
    if w.shape[-1] != row_bytes:
        raise ValueError(f"{fmt.name}: rows of {n_cols} columns take {row_bytes} bytes, w has {w.shape[-1]}")
    return row_bytes


def _dequant_grid(n_items: int) -> tuple[int, int, int]:
    return (max(1, min(-(-n_items // _DEQUANT_THREADS), _MAX_GRID_X)), 1, 1)


def dequantize(fmt, w, n_cols: int, dtype=np.float32, *, stream=None, out=None):
    suffix = _DEQUANT_SUFFIX.get(dtype if dtype == "bfloat16" else np.dtype(dtype))
    if suffix is None:
        raise ValueError(f"dequantize to {dtype!r}: supported are float32, float16 and 'bfloat16'")
    _check("w", w, np.uint8)
    row_bytes = _check_weight(fmt, w, n_cols, len(w.shape))
    out_dtype = np.uint16 if suffix == "bf16" else dtype
    out = _empty((*w.shape[:-1], n_cols), out_dtype, out)
    n_rows = int(np.prod(w.shape[:-1]))
    if n_rows:
        _launch(fmt, f"dequant_{suffix}", "dequant", _dequant_grid(n_rows * n_cols // 4), (_DEQUANT_THREADS, 1, 1),
                stream, w.gpudata, np.uintp(0), out.gpudata, row_bytes, n_cols, n_rows, n_rows)
    return out


def embedding(fmt, w, ids, n_cols: int, *, stream=None, out=None):
    row_bytes = _check_weight(fmt, w, n_cols, 2)
    _check("ids", ids, np.int32, 1)
    n = ids.shape[0]
    out = _empty((n, n_cols), np.float32, out)
    if n:
        _launch(fmt, "dequant_f32", "dequant", _dequant_grid(n * n_cols // 4), (_DEQUANT_THREADS, 1, 1), stream,
                w.gpudata, ids.gpudata, out.gpudata, row_bytes, n_cols, n, w.shape[0])
    return out


def _check_linear(fmt, x, w, in_features: int) -> tuple[int, int, int]:
    row_bytes = _check_weight(fmt, w, in_features, 2)
    _check("x", x, np.float32, 2)
    if x.shape[1] != in_features:
        raise ValueError(f"x has {x.shape[1]} features, the weight takes {in_features}")
    return x.shape[0], w.shape[0], row_bytes


def matvec(fmt, x, w, in_features: int, *, stream=None, out=None):
    n, n_out, row_bytes = _check_linear(fmt, x, w, in_features)
    out = _empty((n, n_out), np.float32, out)
    for r0 in range(0, n, MATVEC_MAX_ROWS):
        rows = min(MATVEC_MAX_ROWS, n - r0)
        variant = next(v for v in _MV_ROWS_PER_WARP if v >= rows)
        grid = (-(-n_out // (_MV_WARPS * _MV_ROWS_PER_WARP[variant])), 1, 1)
        _launch(fmt, f"matvec_nr{variant}", "matvec", grid, (_MV_WARPS * 32, 1, 1), stream,
                int(x.gpudata) + r0 * in_features * 4, w.gpudata, int(out.gpudata) + r0 * n_out * 4,
                rows, row_bytes, in_features, n_out)
    return out


def matmul(fmt, x, w, in_features: int, *, stream=None, out=None):
    n, n_out, row_bytes = _check_linear(fmt, x, w, in_features)
    out = _empty((n, n_out), np.float32, out)
    if n:
        grid = (-(-n_out // _MM_BM), -(-n // _MM_BN), 1)
        _launch(fmt, "matmul", "matmul", grid, (_MM_THREADS, 1, 1), stream,
                x.gpudata, w.gpudata, out.gpudata, row_bytes, in_features, n_out, n)
    return out


def linear(fmt, x, w, in_features: int, *, stream=None, out=None):
    fn = matvec if x.shape[0] <= MATVEC_MAX_ROWS else matmul
    return fn(fmt, x, w, in_features, stream=stream, out=out)


def linear_experts(fmt, x, w, ids, in_features: int, *, stream=None, out=None, use_matmul: bool | None = None):
    """Expert-indexed projection; ``use_matmul`` forces a variant (default: matvec up to 8 tokens)."""
    row_bytes = _check_weight(fmt, w, in_features, 3)
    _check("x", x, np.float32, 3)
    _check("ids", ids, np.int32, 2)
    n_experts, n_out = w.shape[0], w.shape[1]
    n_tok, k = ids.shape
    x_rows = x.shape[1]
    if x.shape[0] != n_tok or x_rows not in (1, k) or x.shape[2] != in_features:
        raise ValueError(f"x must be [{n_tok}, 1 or {k}, {in_features}], got {tuple(x.shape)}")
    out = _empty((n_tok, k, n_out), np.float32, out)
    if n_tok == 0:
        return out
    expert_bytes = n_out * row_bytes
    if use_matmul is None:
        use_matmul = n_tok > MATVEC_MAX_ROWS
    if use_matmul:
        grid = (-(-n_out // _MM_BM), n_experts, 1)
        _launch(fmt, "matmul_experts", "matmul_experts", grid, (_MM_THREADS, 1, 1), stream,
                x.gpudata, w.gpudata, ids.gpudata, out.gpudata, expert_bytes, row_bytes, in_features, n_out,
                n_tok, k, x_rows)
    else:
        grid = (-(-n_out // (_MV_WARPS * _MV_ROWS_PER_WARP[1])), n_tok * k, 1)
        _launch(fmt, "matvec_experts", "matvec_experts", grid, (_MV_WARPS * 32, 1, 1), stream,
                x.gpudata, w.gpudata, ids.gpudata, out.gpudata, expert_bytes, row_bytes, in_features, n_out, k,
                x_rows, n_experts)
    return out
