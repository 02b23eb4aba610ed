"""CUDA launchers of the backend ops; each mirrors its NumPy twin in :mod:`runtime.ops_ref`.

Arguments are pycuda ``GPUArray``s (float32 activations, int32 ids and positions), C-contiguous. Every
launcher takes ``stream=None`` (plugrt's stream, :func:`runtime.cuda.device.stream`) and ``out=None``
(``out`` may alias an input of the same shape for the elementwise ops, the norms and rope). Kernels live
in ``kernels/*.cu``, compile once per process through :mod:`runtime.cuda.device` and launch with
``prepared_async_call``. This module never imports pycuda.
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np

from runtime.cuda import device
from runtime.cuda.source import CudaSource
from runtime.ops_ref import max_expert_tiles

KERNEL_DIR = Path(__file__).parent / "kernels"

_THREADS = 256
_MAX_BLOCKS = 65535
_NORM_THREADS = 256
_NORM_WIDE_THREADS = 1024
_ARGMAX_THREADS = 256
_ARGMAX_ITEMS = 8  # ARGMAX_ITEMS in kernels/moe.cu
_ROUTING_THREADS = 1024
_MAX_ROUTED_EXPERTS = 4096  # expert_tiles keeps two ints an expert in shared memory
# attention: rows (query, head) per block and the key-split target; see kernels/attention.cu
_ATTN_WARPS = 8
_ATTN_TILE = 32
_ATTN_HEAD_DIMS = (64, 128)
_ATTN_TARGET_BLOCKS = 512  # also the most splits: MAX_SPLITS in kernels/attention.cu
_ATTN_MIN_KEYS_PER_SPLIT = 64  # MIN_KEYS_PER_SPLIT in kernels/attention.cu
# the tensor-core kernel (kernels/attention_mma.cu): rows per block (FA_ROWS), and the fewest blocks
# it is chosen for (it does not split keys, so it needs a call's rows to fill the GPU by themselves)
_ATTN_MMA_ROWS, _ATTN_MMA_THREADS = 64, 128
_ATTN_MMA_MIN_BLOCKS = 128


@lru_cache(maxsize=None)
def _kernel(unit: str, name: str, signature: str):
    """Kernel ``name`` of ``kernels/<unit>.cu``, prepared with a pycuda struct ``signature``."""
    fn = device.kernel(CudaSource.from_file(KERNEL_DIR / f"{unit}.cu"), name)
    fn.prepare(signature)
    return fn


def _launch(fn, grid, block, stream, *args, shared: int = 0) -> None:
    fn.prepared_async_call(grid, block, stream or device.stream(), *args, shared_size=shared)


def is_c_contiguous(array) -> bool:
    """``array.flags.c_contiguous`` from shape and strides alone (numpy's rule: a dimension of
    length 1 may have any stride, an empty array is contiguous). A GPUArray builds its flags anew
    at each access: under cProfile, the ops' checks through them were about a sixth of an eager
    call's host time."""
    if 0 in array.shape:
        return True
    expected = array.dtype.itemsize
    for length, stride in zip(reversed(array.shape), reversed(array.strides)):
        if length != 1 and stride != expected:
            return False
        expected *= length
    return True


def _check(array, name: str, dtype=np.float32, shape: tuple | None = None) -> None:
    if array.dtype != dtype:
        raise ValueError(f"{name}: expected dtype {np.dtype(dtype)}, got {array.dtype}")
    if not is_c_contiguous(array):
        raise ValueError(f"{name}: must be C-contiguous")
    if shape is not None and tuple(array.shape) != tuple(shape):
        raise ValueError(f"{name}: expected shape {tuple(shape)}, got {tuple(array.shape)}")


#: Attribute of an array written by ``rms_norm_q8``: its (q, ds) int8 quantization, which products
#: reading the array reuse. Anything that writes into the array again drops it (``forget_derived``).
INT8_ATTRIBUTE = "plugrt_int8"
#: Attribute of an expert-id array: its routing tables ({(n_experts, tile): expert_tiles(...)}),
#: which the gate, up and down products of one MoE layer share (``routing_table``).
ROUTING_ATTRIBUTE = "plugrt_routing"


def forget_derived(array) -> None:
    """``array`` is being overwritten: what was made from it (its int8 quantization, its routing
    tables) no longer stands for it."""
    array.__dict__.pop(INT8_ATTRIBUTE, None)
    array.__dict__.pop(ROUTING_ATTRIBUTE, None)


def _output(like, shape, dtype, out, name: str = "out"):
    """``out`` checked against (shape, dtype), or a new array from ``like``'s allocator."""
    if out is None:
        return type(like)(tuple(shape), dtype, allocator=like.allocator)
    _check(out, name, dtype, shape)
    forget_derived(out)
    return out


def _elementwise_grid(count: int) -> tuple[int, int, int]:
    return (max(1, min(_MAX_BLOCKS, -(-count // _THREADS))), 1, 1)


def _ptr(array) -> int:
    return array.ptr


# -- norms --------------------------------------------------------------------------------------------

def _norm_threads(d: int) -> int:
    """Threads of the one block that normalises a row of d values: 256 take rows of up to 1024 in
    at most 4 steps; wider rows (gpt-oss's 2880) take 1024, so that a decode step's norm, one block
    for its one row, is not a 12-step loop on one SM."""
    return _NORM_THREADS if d <= 4 * _NORM_THREADS else _NORM_WIDE_THREADS


def rms_norm(x, w, eps: float, stream=None, out=None):
    """x * rsqrt(mean(x^2) + eps) * w per row of x[n, d]."""
    d = x.shape[-1]
    _check(x, "x")
    _check(w, "w", shape=(d,))
    out = _output(x, x.shape, np.float32, out)
    fn = _kernel("norms", "rms_norm", "PPPif")
    _launch(fn, (x.size // d, 1, 1), (_norm_threads(d), 1, 1), stream, _ptr(x), _ptr(w), _ptr(out), d, float(eps))
    return out


def rms_norm_q8(x, w, eps: float, stream=None):
    """rms_norm(x, w, eps) carrying its quantize_q8 (as ``INT8_ATTRIBUTE``), from one kernel;
    x[n, d] with d a multiple of 32."""
    n, d = x.shape
    _check(x, "x")
    _check(w, "w", shape=(d,))
    if d % 32:
        raise ValueError(f"rms_norm_q8: {d} features is not a multiple of 32")
    out = _output(x, x.shape, np.float32, None)
    q = _output(x, x.shape, np.int8, None, "q")
    ds = _output(x, (n, d // 32, 2), np.float32, None, "ds")
    fn = _kernel("norms", "rms_norm_q8", "PPPPPif")
    _launch(fn, (n, 1, 1), (_norm_threads(d), 1, 1), stream, _ptr(x), _ptr(w), _ptr(out), _ptr(q), _ptr(ds), d,
            float(eps))
    setattr(out, INT8_ATTRIBUTE, (q, ds))
    return out


def add_rms_norm(x, y, w, eps: float, *, quantize: bool = False, stream=None):
    """(x + y, rms_norm(x + y, w, eps)) from one kernel, for x, y [n, d]; with ``quantize`` (d a
    multiple of 32) the norm carries its quantize_q8 as rms_norm_q8's does."""
    n, d = x.shape
    _check(x, "x")
    _check(y, "y", shape=x.shape)
    _check(w, "w", shape=(d,))
    if quantize and d % 32:
        raise ValueError(f"add_rms_norm: {d} features is not a multiple of 32")
    total = _output(x, x.shape, np.float32, None)
    out = _output(x, x.shape, np.float32, None)
    q = _output(x, x.shape, np.int8, None, "q") if quantize else None
    ds = _output(x, (n, d // 32, 2), np.float32, None, "ds") if quantize else None
    fn = _kernel("norms", "add_rms_norm", "PPPPPPPif")
    _launch(fn, (n, 1, 1), (_norm_threads(d), 1, 1), stream, _ptr(x), _ptr(y), _ptr(total), _ptr(w), _ptr(out),
            _ptr(q) if quantize else 0, _ptr(ds) if quantize else 0, d, float(eps))
    if quantize:
        setattr(out, INT8_ATTRIBUTE, (q, ds))
    return total, out


def layer_norm(x, w, b, eps: float, stream=None, out=None):
    """(x - mean) * rsqrt(var + eps) * w + b per row of x[n, d]."""
    d = x.shape[-1]
    _check(x, "x")
    _check(w, "w", shape=(d,))
    _check(b, "b", shape=(d,))
    out = _output(x, x.shape, np.float32, out)
    fn = _kernel("norms", "layer_norm", "PPPPif")
    _launch(fn, (x.size // d, 1, 1), (_norm_threads(d), 1, 1), stream, _ptr(x), _ptr(w), _ptr(b), _ptr(out), d,
            float(eps))
    return out


# -- elementwise --------------------------------------------------------------------------------------

def gelu_tanh(x, stream=None, out=None):
    _check(x, "x")
    out = _output(x, x.shape, np.float32, out)
    _launch(_kernel("elementwise", "gelu_tanh", "PPi"), _elementwise_grid(x.size), (_THREADS, 1, 1), stream,
            _ptr(x), _ptr(out), x.size)
    return out


def add_bias_gelu(x, b, stream=None, out=None):
    """gelu_tanh(x + b), b[d] broadcast over the last axis: the GPT-2 FFN's fc1 bias and activation."""
    d = x.shape[-1]
    _check(x, "x")
    _check(b, "b", shape=(d,))
    out = _output(x, x.shape, np.float32, out)
    _launch(_kernel("elementwise", "add_bias_gelu", "PPPii"), _elementwise_grid(x.size), (_THREADS, 1, 1),
            stream, _ptr(x), _ptr(b), _ptr(out), x.size, d)
    return out


def add(a, b, stream=None, out=None):
    _check(a, "a")
    _check(b, "b", shape=a.shape)
    out = _output(a, a.shape, np.float32, out)
    _launch(_kernel("elementwise", "add", "PPPi"), _elementwise_grid(a.size), (_THREADS, 1, 1), stream,
            _ptr(a), _ptr(b), _ptr(out), a.size)
    return out


def add_bias(x, b, stream=None, out=None):
    d = x.shape[-1]
    _check(x, "x")
    _check(b, "b", shape=(d,))
    out = _output(x, x.shape, np.float32, out)
    _launch(_kernel("elementwise", "add_bias", "PPPii"), _elementwise_grid(x.size), (_THREADS, 1, 1), stream,
            _ptr(x), _ptr(b), _ptr(out), x.size, d)
    return out


def split_columns(x, widths, stream=None):
    """x[n, sum(widths)] cut into [n, w] pieces; with one row they are views of x (nothing runs)."""
    n, total = x.shape
    _check(x, "x")
    if sum(widths) != total:
        raise ValueError(f"split_columns: widths {tuple(widths)} do not add up to {total} columns")
    starts = np.cumsum([0, *widths[:-1]])
    if n == 1:
        flat = x.reshape(total)
        return tuple(flat[a:a + w].reshape(1, w) for a, w in zip(starts, widths))
    pieces = []
    for a, w in zip(starts, widths):
        out = _output(x, (n, w), np.float32, None)
        _launch(_kernel("elementwise", "copy_columns", "PPiiii"), _elementwise_grid(n * w), (_THREADS, 1, 1),
                stream, _ptr(x), _ptr(out), n * w, total, int(a), w)
        pieces.append(out)
    return tuple(pieces)


def add_position_embedding(x, table, positions, stream=None, out=None):
    """x[n, d] + table[positions[i]]; positions must be < table rows (not checked on the device)."""
    n, d = x.shape
    _check(x, "x")
    _check(table, "table")
    _check(positions, "positions", np.int32, (n,))
    if table.shape[-1] != d:
        raise ValueError(f"add_position_embedding: table width {table.shape[-1]} != {d}")
    out = _output(x, x.shape, np.float32, out)
    _launch(_kernel("elementwise", "add_position_embedding", "PPPPii"), _elementwise_grid(x.size),
            (_THREADS, 1, 1), stream, _ptr(x), _ptr(table), _ptr(positions), _ptr(out), x.size, d)
    return out


def swiglu_oai(gate, up, alpha: float = 1.702, limit: float = 7.0, stream=None, out=None):
    _check(gate, "gate")
    _check(up, "up", shape=gate.shape)
    out = _output(gate, gate.shape, np.float32, out)
    _launch(_kernel("elementwise", "swiglu_oai", "PPPiff"), _elementwise_grid(gate.size), (_THREADS, 1, 1),
            stream, _ptr(gate), _ptr(up), _ptr(out), gate.size, float(alpha), float(limit))
    return out


def moe_combine(y, weights, stream=None, out=None):
    """sum_j weights[:, j] * y[:, j] for y[n, k, d]."""
    n, k, d = y.shape
    _check(y, "y")
    _check(weights, "weights", shape=(n, k))
    out = _output(y, (n, d), np.float32, out)
    _launch(_kernel("elementwise", "moe_combine", "PPPiii"), _elementwise_grid(n * d), (_THREADS, 1, 1), stream,
            _ptr(y), _ptr(weights), _ptr(out), n * d, k, d)
    return out


# -- positions and the KV cache -----------------------------------------------------------------------

def rope_neox(x, positions, inv_freq, attn_factor: float, stream=None, out=None):
    """NeoX rotary embedding on x[n, h, dh]; YaRN's corrected inv_freq and attn_factor come from the caller."""
    n, heads, dh = x.shape
    _check(x, "x")
    _check(positions, "positions", np.int32, (n,))
    _check(inv_freq, "inv_freq", shape=(dh // 2,))
    out = _output(x, x.shape, np.float32, out)
    _launch(_kernel("rope", "rope_neox", "PPPPiif"), (n * heads, 1, 1), (max(32, dh // 2), 1, 1), stream,
            _ptr(x), _ptr(positions), _ptr(inv_freq), _ptr(out), heads, dh, float(attn_factor))
    return out


def kv_store(k_cache, v_cache, k, v, positions, stream=None) -> None:
    """Write k[i], v[i] ([n, hkv, dh]) into cache row positions[i] % cap, in place (rows distinct, n <= cap)."""
    cap = k_cache.shape[0]
    n = k.shape[0]
    _check(k_cache, "k_cache")
    _check(v_cache, "v_cache", shape=k_cache.shape)
    _check(k, "k", shape=(n, *k_cache.shape[1:]))
    _check(v, "v", shape=k.shape)
    _check(positions, "positions", np.int32, (n,))
    if n > cap:
        raise ValueError(f"kv_store: {n} tokens do not fit a cache of {cap} rows")
    _launch(_kernel("kv_cache", "kv_store", "PPPPPii"), (n, 1, 1), (_THREADS, 1, 1), stream, _ptr(k_cache),
            _ptr(v_cache), _ptr(k), _ptr(v), _ptr(positions), k.size // n, cap)


# -- attention ----------------------------------------------------------------------------------------

def _attention_splits(n: int, group: int, hkv: int, cap: int, window: int) -> int:
    """Key splits per block: enough blocks to fill the GPU, at least a few tiles of keys per split at the
    longest range the cache can hold (chosen from static sizes only, so a captured graph stays valid)."""
    blocks = -(-n * group // _ATTN_WARPS) * hkv
    longest = min(cap, window + n - 1) if window else cap
    return max(1, min(-(-_ATTN_TARGET_BLOCKS // blocks), longest // _ATTN_MIN_KEYS_PER_SPLIT))


@lru_cache(maxsize=None)
def _attention_mma_kernel(dh: int):
    """The tensor-core attention kernel for head dim ``dh``, allowed its dynamic shared memory."""
    import pycuda.driver as drv

    source = CudaSource.from_file(KERNEL_DIR / "attention_mma.cu")
    fn = _kernel("attention_mma", f"attention_mma_dh{dh}", "PPPPPPiiiiif")
    nbytes = device.global_int(source, f"attention_mma_dh{dh}_smem_bytes")
    fn.set_attribute(drv.function_attribute.MAX_DYNAMIC_SHARED_SIZE_BYTES, nbytes)
    return fn, nbytes


def attention_on_tensor_cores(n: int, group: int, hkv: int) -> bool:
    """Whether :func:`attention` runs ``n`` queries on the tensor-core kernel: where its blocks of
    (query, head) rows fill the GPU without key splits (prefill), not for decode steps."""
    return -(-n * group // _ATTN_MMA_ROWS) * hkv >= _ATTN_MMA_MIN_BLOCKS


def attention(q, k_cache, v_cache, positions, scale: float, window: int = 0, sinks=None, stream=None, out=None,
              tensor_cores: bool | None = None):
    """Causal attention of q[n, hq, dh] over a (ring) cache [cap, hkv, dh]; see ``ops_ref.attention``.

    Prefill (many query rows) runs on tensor cores, tf32 inputs and fp32 accumulation
    (kernels/attention_mma.cu); otherwise an fp32 kernel splits each block's key range over several
    blocks when there are too few rows to fill the GPU (decode), then a combine kernel merges them.
    ``tensor_cores`` forces the choice (default: :func:`attention_on_tensor_cores`).
    """
    n, hq, dh = q.shape
    cap, hkv, _ = k_cache.shape
    _check(q, "q")
    _check(k_cache, "k_cache")
    _check(v_cache, "v_cache", shape=k_cache.shape)
    _check(positions, "positions", np.int32, (n,))
    if k_cache.shape[2] != dh or hq % hkv:
        raise ValueError(f"attention: q {tuple(q.shape)} does not fit cache {tuple(k_cache.shape)}")
    if dh not in _ATTN_HEAD_DIMS:
        raise ValueError(f"attention: head dim {dh} has no kernel (have {_ATTN_HEAD_DIMS})")
    if sinks is not None:
        _check(sinks, "sinks", shape=(hq,))
    out = _output(q, q.shape, np.float32, out)
    group = hq // hkv
    if tensor_cores is None:
        tensor_cores = attention_on_tensor_cores(n, group, hkv)
    if tensor_cores:
        fn, nbytes = _attention_mma_kernel(dh)
        _launch(fn, (-(-n * group // _ATTN_MMA_ROWS), hkv, 1), (_ATTN_MMA_THREADS, 1, 1), stream, _ptr(q),
                _ptr(k_cache), _ptr(v_cache), _ptr(positions), _ptr(sinks) if sinks is not None else 0, _ptr(out),
                n, hq, hkv, cap, int(window), float(scale), shared=nbytes)
        return out
    splits = _attention_splits(n, group, hkv, cap, window)
    partials = None
    if splits > 1:
        partials = type(q)((splits * n * hq * (dh + 2),), np.float32, allocator=q.allocator)
    fn = _kernel("attention", f"attention_dh{dh}", "PPPPPPPiiiiif")
    grid = (-(-n * group // _ATTN_WARPS), hkv, splits)
    _launch(fn, grid, (_ATTN_WARPS * 32, 1, 1), stream, _ptr(q), _ptr(k_cache), _ptr(v_cache), _ptr(positions),
            _ptr(sinks) if sinks is not None else 0, _ptr(out), _ptr(partials) if partials is not None else 0,
            n, hq, hkv, cap, int(window), float(scale))
    if partials is not None:
        combine = _kernel("attention", "attention_combine", "PPPiiii")
        _launch(combine, (n * hq, 1, 1), (dh, 1, 1), stream, _ptr(partials),
                _ptr(sinks) if sinks is not None else 0, _ptr(out), n * hq, hq, dh, splits)
    return out


# -- selection ----------------------------------------------------------------------------------------

def moe_router(logits, k: int, stream=None, out=None):
    """(ids[n, k] int32, weights[n, k] f32): top-k per row (ties: lower index), softmax over the k.

    ``out`` is an (ids, weights) pair when given.
    """
    n, n_experts = logits.shape
    _check(logits, "logits")
    if not 0 < k <= n_experts:
        raise ValueError(f"moe_router: k={k} outside 1..{n_experts}")
    ids, weights = out if out is not None else (None, None)
    ids = _output(logits, (n, k), np.int32, ids, "ids")
    weights = _output(logits, (n, k), np.float32, weights, "weights")
    _launch(_kernel("moe", "moe_router", "PPPii"), (n, 1, 1), (32, 1, 1), stream, _ptr(logits), _ptr(ids),
            _ptr(weights), n_experts, k, shared=8 * k)
    return ids, weights


def expert_tiles(ids, n_experts: int, tile: int, stream=None):
    """(sorted, tiles), the routing table of a grouped expert product (kernels/moe.cu): ids' (token,
    slot) pairs sorted by expert, int32 [ids.size], and the tiles of at most ``tile`` pairs of one
    expert, int32 [max_expert_tiles(...), 4] rows (expert, first index into sorted, pairs, 0), empty
    rows last. Pairs with an id outside [0, n_experts) are in no tile."""
    _check(ids, "ids", np.int32)
    if not 0 < n_experts <= _MAX_ROUTED_EXPERTS:
        raise ValueError(f"expert_tiles: {n_experts} experts outside 1..{_MAX_ROUTED_EXPERTS}")
    n_pairs = ids.size
    max_tiles = max_expert_tiles(n_pairs, n_experts, tile)
    sorted_pairs = _output(ids, (n_pairs,), np.int32, None)
    tiles = _output(ids, (max_tiles, 4), np.int32, None)
    if n_pairs:
        _launch(_kernel("moe", "expert_tiles", "PiiiiPP"), (1, 1, 1), (_ROUTING_THREADS, 1, 1), stream, _ptr(ids),
                n_pairs, n_experts, tile, max_tiles, _ptr(sorted_pairs), _ptr(tiles), shared=8 * n_experts)
    return sorted_pairs, tiles


def routing_table(ids, n_experts: int, tile: int, stream=None):
    """``expert_tiles(ids, n_experts, tile)``, made once and kept on ``ids`` for the other products
    that read the same ids (until ids is written again: ``forget_derived``)."""
    tables = ids.__dict__.setdefault(ROUTING_ATTRIBUTE, {})
    if (n_experts, tile) not in tables:
        tables[n_experts, tile] = expert_tiles(ids, n_experts, tile, stream)
    return tables[n_experts, tile]


def argmax(logits, stream=None, out=None):
    """Greedy token id per row of logits[n, V] (ties: lower index), as int32 on the device."""
    n, vocab = logits.shape
    _check(logits, "logits")
    out = _output(logits, (n,), np.int32, out)
    parts = -(-vocab // (_ARGMAX_THREADS * _ARGMAX_ITEMS))
    part_value = _output(logits, (n, parts), np.float32, None)
    part_id = _output(logits, (n, parts), np.int32, None)
    _launch(_kernel("moe", "argmax_partial", "PPPi"), (parts, n, 1), (_ARGMAX_THREADS, 1, 1), stream, _ptr(logits),
            _ptr(part_value), _ptr(part_id), vocab)
    _launch(_kernel("moe", "argmax_final", "PPPii"), (n, 1, 1), (_ARGMAX_THREADS, 1, 1), stream, _ptr(part_value),
            _ptr(part_id), _ptr(out), parts, vocab)
    return out


def advance(positions, by: int = 1, stream=None) -> None:
    """positions[i] += by in place (int32)."""
    _check(positions, "positions", np.int32)
    _launch(_kernel("elementwise", "advance_i32", "Pii"), _elementwise_grid(positions.size), (_THREADS, 1, 1),
            stream, _ptr(positions), positions.size, int(by))


# -- int8 activations -------------------------------------------------------------------------------

def quantize_q8(x, stream=None, out=None):
    """(q int8 [..., d], ds f32 [..., d / 32, 2]) for the int8 matvec kernels; ``out`` is a (q, ds) pair."""
    d = x.shape[-1]
    _check(x, "x")
    if d % 32:
        raise ValueError(f"quantize_q8: last axis {d} is not a multiple of 32")
    q, ds = out if out is not None else (None, None)
    q = _output(x, x.shape, np.int8, q, "q")
    ds = _output(x, (*x.shape[:-1], d // 32, 2), np.float32, ds, "ds")
    n_units = x.size // 32
    if n_units:
        warps = _THREADS // 32
        _launch(_kernel("activations", "quantize_q8", "PPPi"), (-(-n_units // warps), 1, 1), (_THREADS, 1, 1),
                stream, _ptr(x), _ptr(q), _ptr(ds), n_units)
    return q, ds


# -- timing -------------------------------------------------------------------------------------------

def hold_stream(ms: float, stream=None) -> None:
    """Keep the stream busy for ``ms`` milliseconds (device time), so that work queued meanwhile
    runs back to back afterwards."""
    _launch(_kernel("timing", "sleep_ns", "Q"), (1, 1, 1), (1, 1, 1), stream, int(ms * 1e6))


def read_bytes(pointer: int, nbytes: int, sink, stream=None) -> None:
    """Read ``nbytes`` (a multiple of 16) of device memory at ``pointer`` (16-byte aligned) and
    nothing more: the benchmarks' floor for a product that reads those bytes. ``sink``: a uint32
    device array the kernel may write."""
    if pointer % 16 or nbytes % 16:
        raise ValueError(f"read_bytes needs 16-byte alignment, got pointer {pointer:#x} and {nbytes} bytes")
    _launch(_kernel("timing", "read_bytes", "PQP"), (device.sm_count() * 8, 1, 1), (256, 1, 1), stream, pointer,
            nbytes // 16, _ptr(sink))
