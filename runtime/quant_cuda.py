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
from runtime.cuda.graph import waits_in_kernel
from runtime.cuda.ops import forget_derived, is_c_contiguous, routing_table

#: Largest number of activation rows the fused matvec kernel takes in one launch.
MATVEC_MAX_ROWS = 8
#: From this many output rows on, a one-row int8 matvec reads two weight rows a warp
#: (matvec_q8_paired). On the H200 (2026-11-29) that took the 201088x2880 LM head product from
#: 0.54 / 0.65 / 0.82 of the copy bandwidth to 0.69 / 0.86 / 0.94 (MXFP4 / Q4_K / Q8_0); the
#: streamed kernel (below) took 110.9 / 110.9 / 164.3 us there against the paired 103.1 / 101.0 /
#: 153.2, so LM heads keep the paired one.
PAIRED_MATVEC_ROWS = 65536
#: Widest rows of the streamed int8 matvec (STREAM_MAX_COLS in quant_kernels.cuh): one activation
#: row's products of rows this wide or narrower take matvec_q8_stream / matvec_q8_experts_stream.
STREAM_MAX_COLS = 3072
#: Most output rows a block of the streamed gate + up kernel takes (SWIGLU_BLOCK_ROWS there).
SWIGLU_BLOCK_ROWS = 64
#: Must match MV_WARPS, MV_MIN_BLOCKS, mv_rows_per_warp, MM_BM, MM_BN and MM_THREADS in
#: quant_kernels.cuh, and MQ_BN and MQ_THREADS in q8_matmul.cuh.
_MV_WARPS = 4
_MV_PAIRED_ROWS = 2  # weight rows a warp of matvec_q8_paired
_MV_MIN_BLOCKS = 8
_MV_ROWS_PER_WARP = {1: 1, 2: 1, 4: 1, 8: 1}
_MM_BM = 64
_MM_BN = 64
_MM_THREADS = 128
_MQ_BN = 128
_MQ_THREADS = 256
_DEQUANT_THREADS = 256
_MAX_GRID_X = 2**31 - 1
_MAX_GRID_Y = 65535

_SIGNATURES = {
    "dequant": "PPPiiii",
    "matvec": "PPPPiiii",
    "matvec_experts": "PPPPPiiiiiii",
    "matvec_q8": "PPPPPiiii",
    "matvec_q8_paired": "PPPPPiii",
    "matvec_q8_stream": "PPPPPiii",
    "matvec_q8_experts_stream": "PPPPPPiiiiiiii",
    "matvec_q8_experts_swiglu_stream": "PPPPPPPPiiiiiiiff",
    "matvec_q8_experts": "PPPPPPiiiiiii",
    "matvec_q8_experts_swiglu": "PPPPPPPPiiiiiiiff",
    "matmul": "PPPiiii",
    "matmul_experts": "PPPPPiiiiiii",
    "matmul_q8": "PPPPiiii",
    "matmul_q8_experts": "PPPPPPiiiiiii",
}
_DEQUANT_SUFFIX = {np.dtype(np.float32): "f32", np.dtype(np.float16): "f16", "bfloat16": "bf16"}


#: Kinds of kernels that wait for the kernels before them in-kernel (pdl.cuh): graphs may start them early.
_WAITING_KERNELS = frozenset({"matvec_q8_paired", "matvec_q8_stream", "matvec_q8_experts_stream",
                              "matvec_q8_experts_swiglu_stream"})


@lru_cache(maxsize=None)
def _prepared(fmt, kernel_name: str, kind: str):
    """The format's kernel kernel_name, of kind `kind` (its arguments, and whether it waits in-kernel)."""
    name = f"{fmt.cuda_prefix}_{kernel_name}"
    fn = device.kernel(fmt.cuda_sources()[0], name)
    fn.prepare(_SIGNATURES[kind])
    if kind in _WAITING_KERNELS:
        waits_in_kernel(name)
    return fn


def _launch(fmt, kernel_name: str, kind: str, grid, block, stream, *args, shared_size: int = 0) -> None:
    fn = _prepared(fmt, kernel_name, kind)
    fn.prepared_async_call(grid, block, stream or device.stream(),
                           *(a if isinstance(a, float) else int(a) for a in args), shared_size=shared_size)


@lru_cache(maxsize=None)
def _q8_matmul_shared_bytes(fmt) -> int:
    """Dynamic shared memory of the format's int8 tensor-core kernels (MQSmem<F>::BYTES, beyond the
    default 48 KiB), which they are allowed here once."""
    from pycuda import driver

    nbytes = device.global_int(fmt.cuda_sources()[0], f"{fmt.cuda_prefix}_matmul_q8_smem_bytes")
    for name in ("matmul_q8", "matmul_q8_experts"):
        _prepared(fmt, name, name).set_attribute(
            driver.function_attribute.MAX_DYNAMIC_SHARED_SIZE_BYTES, nbytes)
    return nbytes


def _empty(shape, dtype, out):
    from pycuda import gpuarray

    if out is None:
        return gpuarray.empty(shape, dtype)
    if tuple(out.shape) != tuple(shape) or out.dtype != np.dtype(dtype):
        raise ValueError(f"out must be {np.dtype(dtype).name} {tuple(shape)}, got {out.dtype.name} {tuple(out.shape)}")
    forget_derived(out)
    return out


def _check(name: str, arr, dtype, ndim: int | None = None) -> None:
    if arr.dtype != np.dtype(dtype):
        raise TypeError(f"{name} must be {np.dtype(dtype).name}, got {arr.dtype.name}")
    if ndim is not None and len(arr.shape) != ndim:
        raise ValueError(f"{name} must have {ndim} dimensions, got shape {tuple(arr.shape)}")
    if not is_c_contiguous(arr):
        raise ValueError(f"{name} must be C-contiguous")


def _check_weight(fmt, w, n_cols: int, ndim: int) -> int:
    """Validates raw weights against ``n_cols``; returns the row size in bytes."""
    _check("w", w, np.uint8, ndim)
    if n_cols % fmt.block_size or n_cols % 4:
        raise ValueError(f"{fmt.name}: {n_cols} columns is not a multiple of the block size {fmt.block_size} and of 4")
    row_bytes = fmt.row_bytes(n_cols)
    if w.shape[-1] != row_bytes:
        raise ValueError(f"{fmt.name}: rows of {n_cols} columns take {row_bytes} bytes, w has {w.shape[-1]}")
    if int(w.gpudata) % fmt.device_alignment:
        raise ValueError(f"{fmt.name}: weights must start at a multiple of {fmt.device_alignment} bytes, "
                         f"w starts at {int(w.gpudata):#x}")
    return row_bytes


def _bias_pointer(bias, shape: tuple[int, ...]) -> int:
    """Device address of a float32 bias of ``shape`` the matvec kernels add (0: none)."""
    if bias is None:
        return 0
    _check("bias", bias, np.float32)
    if tuple(bias.shape) != tuple(shape):
        raise ValueError(f"bias must be {tuple(shape)}, got {tuple(bias.shape)}")
    return int(bias.gpudata)


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


def matvec(fmt, x, w, in_features: int, *, bias=None, stream=None, out=None):
    n, n_out, row_bytes = _check_linear(fmt, x, w, in_features)
    out = _empty((n, n_out), np.float32, out)
    bias_ptr = _bias_pointer(bias, (n_out,))
    for r0 in range(0, n, MATVEC_MAX_ROWS):
        rows = min(MATVEC_MAX_ROWS, n - r0)
        variant = next(v for v in _MV_ROWS_PER_WARP if v >= rows)
        grid = (-(-n_out // (_MV_WARPS * _MV_ROWS_PER_WARP[variant])), 1, 1)
        _launch(fmt, f"matvec_nr{variant}", "matvec", grid, (_MV_WARPS * 32, 1, 1), stream,
                int(x.gpudata) + r0 * in_features * 4, w.gpudata, bias_ptr, int(out.gpudata) + r0 * n_out * 4,
                rows, row_bytes, in_features, n_out)
    return out


def _check_q8(xq, xds, in_features: int, rows: tuple[int, ...]) -> None:
    """Int8 activations (runtime.cuda.ops.quantize_q8) of shape rows + (in_features,)."""
    _check("xq", xq, np.int8)
    _check("xds", xds, np.float32)
    if tuple(xq.shape) != (*rows, in_features) or tuple(xds.shape) != (*rows, in_features // 32, 2):
        raise ValueError(f"int8 activations must be {(*rows, in_features)} with scales "
                         f"{(*rows, in_features // 32, 2)}, got {tuple(xq.shape)} and {tuple(xds.shape)}")


def _stream_grid(n_out: int, products: int, blocks_per_sm: int, item_rows: int = 1) -> tuple[int, int, int]:
    """Grid of a streamed kernel over `products` matrices of n_out rows (grid y) that takes
    item_rows rows at a time: as many blocks a product as make the whole grid one wave of
    blocks_per_sm blocks an SM (a format's stream_blocks_per_sm), but at least one and no more
    warps than items; the kernel deals each matrix's items to its warps in turn."""
    resident_blocks = device.sm_count() * min(blocks_per_sm, _MV_MIN_BLOCKS)
    return max(1, min(resident_blocks // products, -(-(n_out // item_rows) // _MV_WARPS))), products, 1


#: Most rows a warp of a streamed product takes one at a time for which the launcher takes the
#: format's two-row kernels instead, if it has them (QuantFormat.two_row_stream_items) and the row
#: count is even. H200, MXFP4 (docs/QUANT_FORMATS.md, twenty-first session): 4 of 32 experts of 2880
#: rows (3 rows a warp) 7.0 -> 6.4-6.5 us, 4096 rows (1) 4.1 -> 3.9; 5760 rows (11) 11.5 -> 12.0 at best.
TWO_ROW_ITEMS_MAX_ROWS = 3


def _stream_variant(fmt, n_out: int, grid_of) -> tuple[str, tuple[int, int, int]]:
    """(kernel name suffix, grid) of a streamed product of n_out rows, grid_of(item_rows) its grid:
    two-row items (the ``_r2`` kernels) where TWO_ROW_ITEMS_MAX_ROWS allows, else one-row."""
    grid = grid_of(1)
    if (fmt.two_row_stream_items and n_out % 2 == 0
            and -(-n_out // (grid[0] * _MV_WARPS)) <= TWO_ROW_ITEMS_MAX_ROWS):
        return "_r2", grid_of(2)
    return "", grid


def _expert_stream_grid(n_out: int, products: int, most_blocks_per_sm: int,
                        item_rows: int = 1) -> tuple[int, int, int]:
    """_stream_grid of expert products at the format's blocks an SM or half as many, whichever gives
    the shorter estimated time: the most items a warp takes times the blocks an SM, whose warps share
    its issue slots (a tie keeps the larger). Dealt in turn, 5760 rows give some of 1056 warps 6 rows
    (5.45 on average) but spread over 528 warps 10.9 evenly; H200, 4 of 32 experts, MXFP4: 13.0 us
    at 8 blocks an SM against 12.3 at 4, while the 2880-row product keeps 8 (7.2 against 7.4 us).
    Six and seven blocks an SM were slower than either (docs/QUANT_FORMATS.md)."""
    def estimate(blocks_per_sm: int) -> int:
        warps = _stream_grid(n_out, products, blocks_per_sm, item_rows)[0] * _MV_WARPS
        return -(-(n_out // item_rows) // warps) * blocks_per_sm

    choices = [b for b in (most_blocks_per_sm, most_blocks_per_sm // 2) if b >= 1]
    return _stream_grid(n_out, products, min(choices, key=estimate), item_rows)


def matvec_q8(fmt, xq, xds, w, in_features: int, *, bias=None, stream=None, out=None):
    """The matvec on int8 activations (formats with ``int8_activations``); at most 8 rows a launch."""
    row_bytes = _check_weight(fmt, w, in_features, 2)
    n, n_out = xq.shape[0], w.shape[0]
    _check_q8(xq, xds, in_features, (n,))
    out = _empty((n, n_out), np.float32, out)
    bias_ptr = _bias_pointer(bias, (n_out,))
    units = in_features // 32
    if n == 1 and n_out >= PAIRED_MATVEC_ROWS:
        _launch(fmt, "matvec_q8_paired", "matvec_q8_paired", (-(-n_out // (_MV_PAIRED_ROWS * _MV_WARPS)), 1, 1),
                (_MV_WARPS * 32, 1, 1), stream, xq.gpudata, xds.gpudata, w.gpudata, bias_ptr, out.gpudata, row_bytes,
                in_features, n_out)
        return out
    if n == 1 and in_features <= STREAM_MAX_COLS:
        suffix, grid = _stream_variant(fmt, n_out,
                                       lambda rows: _stream_grid(n_out, 1, fmt.stream_blocks_per_sm[0], rows))
        _launch(fmt, f"matvec_q8_stream{suffix}", "matvec_q8_stream", grid, (_MV_WARPS * 32, 1, 1), stream,
                xq.gpudata, xds.gpudata, w.gpudata, bias_ptr, out.gpudata, row_bytes, in_features, n_out)
        return out
    for r0 in range(0, n, MATVEC_MAX_ROWS):
        rows = min(MATVEC_MAX_ROWS, n - r0)
        variant = next(v for v in _MV_ROWS_PER_WARP if v >= rows)
        _launch(fmt, f"matvec_q8_nr{variant}", "matvec_q8", (-(-n_out // _MV_WARPS), 1, 1), (_MV_WARPS * 32, 1, 1),
                stream, int(xq.gpudata) + r0 * in_features, int(xds.gpudata) + r0 * units * 8, w.gpudata, bias_ptr,
                int(out.gpudata) + r0 * n_out * 4, rows, row_bytes, in_features, n_out)
    return out


def matmul(fmt, x, w, in_features: int, *, stream=None, out=None):
    n, n_out, row_bytes = _check_linear(fmt, x, w, in_features)
    out = _empty((n, n_out), np.float32, out)
    if n:
        grid = (-(-n_out // _MM_BM), -(-n // _MM_BN), 1)
        _launch(fmt, "matmul", "matmul", grid, (_MM_THREADS, 1, 1), stream,
                x.gpudata, w.gpudata, out.gpudata, row_bytes, in_features, n_out, n)
    return out


def matmul_q8(fmt, xq, xds, w, in_features: int, *, stream=None, out=None):
    """The prefill product on int8 activations (formats with ``int8_activations``): int8 tensor
    cores (runtime/cuda/include/q8_matmul.cuh), any number of rows."""
    row_bytes = _check_weight(fmt, w, in_features, 2)
    n, n_out = xq.shape[0], w.shape[0]
    _check_q8(xq, xds, in_features, (n,))
    out = _empty((n, n_out), np.float32, out)
    if n:
        grid = (-(-n_out // _MM_BM), -(-n // _MQ_BN), 1)
        _launch(fmt, "matmul_q8", "matmul_q8", grid, (_MQ_THREADS, 1, 1), stream,
                xq.gpudata, xds.gpudata, w.gpudata, out.gpudata, row_bytes, in_features, n_out, n,
                shared_size=_q8_matmul_shared_bytes(fmt))
    return out


def linear(fmt, x, w, in_features: int, *, stream=None, out=None):
    fn = matvec if x.shape[0] <= MATVEC_MAX_ROWS else matmul
    return fn(fmt, x, w, in_features, stream=stream, out=out)


def _check_experts(fmt, w, ids, in_features: int) -> tuple[int, int, int, int]:
    """(row_bytes, n_experts, n_out, n_tok) of an expert weight [E, out, row_bytes] and ids [n_tok, k]."""
    row_bytes = _check_weight(fmt, w, in_features, 3)
    _check("ids", ids, np.int32, 2)
    return row_bytes, w.shape[0], w.shape[1], ids.shape[0]


def _check_q8_experts_input(xq, xds, ids, in_features: int) -> tuple[int, int]:
    """(k, x_rows) of int8 expert inputs xq [n_tok, 1 or k, in] for ids [n_tok, k]."""
    n_tok, k = ids.shape
    x_rows = xq.shape[1] if len(xq.shape) == 3 else -1
    if x_rows not in (1, k):
        raise ValueError(f"xq must be [{n_tok}, 1 or {k}, {in_features}], got {tuple(xq.shape)}")
    _check_q8(xq, xds, in_features, (n_tok, x_rows))
    return k, x_rows


def _swiglu_stream_grid(n_out: int, products: int, most_blocks_per_sm: int) -> tuple[int, int, int]:
    """Grid of matvec_q8_experts_swiglu_stream, which deals output rows to blocks and a block's gate
    and up rows to its warps: _expert_stream_grid of the 2 * n_out gate and up rows, with enough
    blocks that none takes more than SWIGLU_BLOCK_ROWS output rows."""
    x, y, z = _expert_stream_grid(2 * n_out, products, most_blocks_per_sm)
    return max(x, -(-n_out // SWIGLU_BLOCK_ROWS)), y, z


def _launch_experts_matvec(fmt, kernel: str, n_out: int, pairs: int, in_features: int, stream, *args,
                           stream_args: tuple = (), stream_plan) -> None:
    """An int8 expert matvec over `pairs` (token, expert) pairs: its streamed variant (which takes
    stream_args too; stream_plan is its kernel name suffix and grid) where rows are at most
    STREAM_MAX_COLS wide, else one row a warp."""
    block = (_MV_WARPS * 32, 1, 1)
    if in_features <= STREAM_MAX_COLS:
        suffix, grid = stream_plan
        _launch(fmt, f"{kernel}_stream{suffix}", f"{kernel}_stream", grid, block, stream, *args, *stream_args)
    else:
        _launch(fmt, kernel, kernel, (-(-n_out // _MV_WARPS), pairs, 1), block, stream, *args)


def matvec_q8_experts(fmt, xq, xds, w, ids, in_features: int, *, bias=None, ids_ready: bool = False, stream=None,
                      out=None):
    """The expert matvec on int8 activations xq [n_tok, 1 or k, in] (any number of tokens);
    ``bias``: float32 [E, out], the row of each selected expert added. ``ids_ready``: the caller
    vouches that ``ids`` were written before the kernel launched just before this one started
    (say, that kernel quantized xq), so a recorded graph's streamed kernel may read them and start
    its first weight copies before its in-kernel wait (runtime/cuda/include/pdl.cuh)."""
    row_bytes, n_experts, n_out, n_tok = _check_experts(fmt, w, ids, in_features)
    k, x_rows = _check_q8_experts_input(xq, xds, ids, in_features)
    out = _empty((n_tok, k, n_out), np.float32, out)
    bias_ptr = _bias_pointer(bias, (n_experts, n_out))
    if n_tok:
        args = (xq.gpudata, xds.gpudata, w.gpudata, ids.gpudata, bias_ptr, out.gpudata, n_out * row_bytes, row_bytes,
                in_features, n_out, k, x_rows, n_experts)
        blocks_per_sm = fmt.stream_blocks_per_sm[1]
        _launch_experts_matvec(
            fmt, "matvec_q8_experts", n_out, n_tok * k, in_features, stream, *args, stream_args=(int(ids_ready),),
            stream_plan=_stream_variant(fmt, n_out,
                                        lambda rows: _expert_stream_grid(n_out, n_tok * k, blocks_per_sm, rows)))
    return out


def matvec_q8_experts_swiglu(fmt, xq, xds, w_gate, w_up, ids, in_features: int, *, gate_bias=None, up_bias=None,
                             alpha: float = 1.702, limit: float = 7.0, stream=None, out=None):
    """swiglu_oai of the gate and up expert products (``matvec_q8_experts`` of each): one warp
    reading the same row of both, or, in the streamed variant, two warps of a block, one each;
    biases are float32 [E, out]."""
    row_bytes, n_experts, n_out, n_tok = _check_experts(fmt, w_gate, ids, in_features)
    if tuple(w_up.shape) != tuple(w_gate.shape):
        raise ValueError(f"gate and up weights differ: {tuple(w_gate.shape)} and {tuple(w_up.shape)}")
    _check_weight(fmt, w_up, in_features, 3)
    k, x_rows = _check_q8_experts_input(xq, xds, ids, in_features)
    out = _empty((n_tok, k, n_out), np.float32, out)
    biases = [_bias_pointer(b, (n_experts, n_out)) for b in (gate_bias, up_bias)]
    if n_tok:
        args = (xq.gpudata, xds.gpudata, w_gate.gpudata, w_up.gpudata, ids.gpudata, *biases, out.gpudata,
                n_out * row_bytes, row_bytes, in_features, n_out, k, x_rows, n_experts, float(alpha), float(limit))
        _launch_experts_matvec(
            fmt, "matvec_q8_experts_swiglu", n_out, n_tok * k, in_features, stream, *args,
            stream_plan=("", _swiglu_stream_grid(n_out, n_tok * k, fmt.stream_blocks_per_sm[1])))
    return out


def matmul_q8_experts(fmt, xq, xds, w, ids, in_features: int, *, stream=None, out=None):
    """The expert product of ``linear_experts``'s matmul variant on int8 activations xq [n_tok, 1 or
    k, in]: int8 tensor cores, only the selected experts read. Pairs with an invalid id are left
    unwritten."""
    row_bytes, n_experts, n_out, n_tok = _check_experts(fmt, w, ids, in_features)
    k, x_rows = _check_q8_experts_input(xq, xds, ids, in_features)
    out = _empty((n_tok, k, n_out), np.float32, out)
    if n_tok:
        sorted_pairs, tiles = routing_table(ids, n_experts, _MQ_BN, stream)
        _launch(fmt, "matmul_q8_experts", "matmul_q8_experts", _grouped_grid(n_out, tiles), (_MQ_THREADS, 1, 1),
                stream, xq.gpudata, xds.gpudata, w.gpudata, sorted_pairs.gpudata, tiles.gpudata, out.gpudata,
                n_out * row_bytes, row_bytes, in_features, n_out, tiles.shape[0], k, x_rows,
                shared_size=_q8_matmul_shared_bytes(fmt))
    return out


def _grouped_grid(n_out: int, tiles) -> tuple[int, int, int]:
    """Grid of a grouped expert product: row tiles x routing tiles (blocks loop past 65535)."""
    return (-(-n_out // _MM_BM), min(tiles.shape[0], _MAX_GRID_Y), 1)


def linear_experts(fmt, x, w, ids, in_features: int, *, bias=None, stream=None, out=None,
                   use_matmul: bool | None = None):
    """Expert-indexed projection; ``use_matmul`` forces a variant (default: matvec up to 8 tokens).
    ``bias`` (float32 [E, out]) is added by the matvec variant only."""
    row_bytes, n_experts, n_out, n_tok = _check_experts(fmt, w, ids, in_features)
    _check("x", x, np.float32, 3)
    k = ids.shape[1]
    x_rows = x.shape[1]
    if x.shape[0] != n_tok or x_rows not in (1, k) or x.shape[2] != in_features:
        raise ValueError(f"x must be [{n_tok}, 1 or {k}, {in_features}], got {tuple(x.shape)}")
    out = _empty((n_tok, k, n_out), np.float32, out)
    if n_tok == 0:
        return out
    expert_bytes = n_out * row_bytes
    if use_matmul is None:
        use_matmul = n_tok > MATVEC_MAX_ROWS
    if use_matmul and bias is not None:
        raise ValueError("linear_experts: the bias is fused into the matvec variant only")
    if use_matmul:
        sorted_pairs, tiles = routing_table(ids, n_experts, _MM_BN, stream)
        _launch(fmt, "matmul_experts", "matmul_experts", _grouped_grid(n_out, tiles), (_MM_THREADS, 1, 1), stream,
                x.gpudata, w.gpudata, sorted_pairs.gpudata, tiles.gpudata, out.gpudata, expert_bytes, row_bytes,
                in_features, n_out, tiles.shape[0], k, x_rows)
    else:
        grid = (-(-n_out // (_MV_WARPS * _MV_ROWS_PER_WARP[1])), n_tok * k, 1)
        _launch(fmt, "matvec_experts", "matvec_experts", grid, (_MV_WARPS * 32, 1, 1), stream,
                x.gpudata, w.gpudata, ids.gpudata, _bias_pointer(bias, (n_experts, n_out)), out.gpudata,
                expert_bytes, row_bytes, in_features, n_out, k, x_rows, n_experts)
    return out
