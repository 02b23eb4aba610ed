"""Effective bandwidth of the fused dequantizing matvec kernels at gpt-oss-20b shapes.

Bandwidth = bytes of weights read / kernel time (CUDA events), reported as a fraction of the
device-to-device copy bandwidth measured in the same run (copy counts bytes read + written).
Kernels are timed back to back: `iters` calls recorded into one CUDA graph, as decode replays them,
so Python's launch cost is not in the time; the int8 products start before the call before them
has finished, as in decode (programmatic edges, runtime/cuda/graph.py; PLUGRT_PDL=0 turns it off).
Beside each product, a plain read of the same bytes (runtime.cuda.ops.read_bytes) timed the same
way, with plain edges, gives the floor a launch of that size reaches on its own.
K-quants cannot hold 2880-wide rows, so Q4_K runs at 3072 columns (bytes are counted as they are).
Each timed call reads weights the previous calls did not touch (other experts, other copies of a
dense matrix; at least ROTATE_BYTES in turn), so the numbers are device-memory bandwidth, not L2.
Both activation paths are timed: float32 x, and int8 x (the kernel alone; the quantization of x,
one small launch per product, is timed on its own line). The int8 down product (an input row per
expert) reads its expert ids before its in-kernel wait, as in decode, where the kernel in front of
it quantizes its input (ids_ready, runtime/backend/cuda.py); the other expert products follow the
router in decode and wait first.

    python scripts/bench_quant_kernels.py [--iters 50] [--activations f32|int8|both] [--formats MXFP4,Q8_0]
"""
from __future__ import annotations

import argparse
import datetime

import numpy as np

from runtime.cuda import device
from runtime.cuda.graph import programmatic_launches
from runtime.ggml_types import GGMLType
from runtime.plugins import registry

TYPES = (GGMLType.MXFP4, GGMLType.Q8_0, GGMLType.Q4_K, GGMLType.Q5_0)
#: (label, experts, selected, out_features, in_features, x_rows); experts == 0 means a dense matrix.
SHAPES = (
    ("experts gate_up 4 of 32 x 5760x2880", 32, 4, 5760, 2880, 1),
    ("experts down 4 of 32 x 2880x2880", 32, 4, 2880, 2880, 4),
    ("dense 4096x2880", 0, 0, 4096, 2880, 1),
    ("lm head 201088x2880", 0, 0, 201088, 2880, 1),
)


def time_ms(fn, iters: int) -> float:
    """Device time of one of fn's calls: `iters` calls recorded into a CUDA graph, replayed once to
    warm up and once between two events."""
    import pycuda.driver as drv

    from runtime.cuda.graph import CudaGraph

    for _ in range(3):  # compiles the kernels outside the recording
        fn()
    stream = device.stream()
    graph = CudaGraph.record(stream, lambda: [fn() for _ in range(iters)], [])
    graph.launch()
    start, end = drv.Event(), drv.Event()
    start.record(stream)
    graph.launch()
    end.record(stream)
    end.synchronize()
    return end.time_since(start) / iters


def copy_bandwidth(iters: int) -> float:
    """Device-to-device copy of 1 GiB, bytes read + written per second."""
    import pycuda.driver as drv
    from pycuda import gpuarray

    n = 2**30
    src, dst = gpuarray.empty(n, np.uint8), gpuarray.empty(n, np.uint8)
    drv.memcpy_dtod(dst.gpudata, src.gpudata, n)
    start, end = drv.Event(), drv.Event()
    start.record()
    for _ in range(iters):
        drv.memcpy_dtod_async(dst.gpudata, src.gpudata, n)
    end.record()
    end.synchronize()
    return 2 * n * iters / (end.time_since(start) * 1e-3)


#: Weights cycled through per case; well above the 50 MB L2 of an H100.
ROTATE_BYTES = 256 * 2**20


def cycled(calls):
    """One call of `calls` after the other, round and round."""
    state = {"i": 0}

    def call():
        calls[state["i"] % len(calls)]()
        state["i"] += 1

    return call


def read_floor_ms(regions, iters: int) -> float:
    """time_ms of plain reads of the (array, offset, bytes) regions a product's calls read in turn."""
    from pycuda import gpuarray

    from runtime.cuda import ops

    sink = gpuarray.empty(1, np.uint32)
    reads = [lambda a=a, at=at, n=n: ops.read_bytes(int(a.gpudata) + at, n - n % 16, sink) for a, at, n in regions]
    return time_ms(cycled(reads), iters)


def bench_case(fmt, shape, iters: int, rng, int8: bool) -> tuple[float, int, list]:
    """(ms per product, bytes of weights it reads, the (array, offset, bytes) regions of its calls)."""
    from pycuda import gpuarray

    from runtime.cuda import ops

    label, n_experts, k, n_out, n_in, x_rows = shape
    n_in = -(-n_in // fmt.block_size) * fmt.block_size
    read = (k or 1) * n_out * fmt.row_bytes(n_in)
    if n_experts:
        w = gpuarray.to_gpu(fmt.random(rng, (n_experts, n_out, n_in)))
        # disjoint expert sets, one per call
        sets = [gpuarray.to_gpu(np.arange(s * k, (s + 1) * k, dtype=np.int32).reshape(1, k))
                for s in range(n_experts // k)]
        regions = [(w, s * read, read) for s in range(n_experts // k)]
        x = gpuarray.to_gpu(rng.standard_normal((1, x_rows, n_in)).astype(np.float32))
        xq, xds = ops.quantize_q8(x)
        out = gpuarray.empty((1, k, n_out), np.float32)
        if int8:
            ready = x_rows > 1
            calls = [lambda ids=ids: fmt.cuda_matvec_q8_experts(xq, xds, w, ids, n_in, ids_ready=ready, out=out)
                     for ids in sets]
        else:
            calls = [lambda ids=ids: fmt.cuda_linear_experts(x, w, ids, n_in, out=out) for ids in sets]
    else:
        first = gpuarray.to_gpu(fmt.random(rng, (n_out, n_in)))
        copies = [first] + [first.copy() for _ in range(-(-ROTATE_BYTES // read) - 1)]
        regions = [(c, 0, read) for c in copies]
        x = gpuarray.to_gpu(rng.standard_normal((1, n_in)).astype(np.float32))
        xq, xds = ops.quantize_q8(x)
        out = gpuarray.empty((1, n_out), np.float32)
        if int8:
            calls = [lambda w=w: fmt.cuda_matvec_q8(xq, xds, w, n_in, out=out) for w in copies]
        else:
            calls = [lambda w=w: fmt.cuda_matvec(x, w, n_in, out=out) for w in copies]
    return time_ms(cycled(calls), iters), read, regions


def bench_gate_up_swiglu(fmt, iters: int, rng) -> tuple[float, int, list]:
    """bench_case of gpt-oss-20b's MoE gate and up (4 of 32 experts, 2880x2880 each) and their
    SwiGLU in one launch, on int8 activations; the regions hold as many bytes of gate weights."""
    from pycuda import gpuarray

    from runtime.cuda import ops

    n_experts, k, n = 32, 4, -(-2880 // fmt.block_size) * fmt.block_size
    gate, up = (gpuarray.to_gpu(fmt.random(rng, (n_experts, 2880, n))) for _ in range(2))
    sets = [gpuarray.to_gpu(np.arange(s * k, (s + 1) * k, dtype=np.int32).reshape(1, k)) for s in range(n_experts // k)]
    xq, xds = ops.quantize_q8(gpuarray.to_gpu(rng.standard_normal((1, 1, n)).astype(np.float32)))
    out = gpuarray.empty((1, k, 2880), np.float32)
    calls = [lambda ids=ids: fmt.cuda_matvec_q8_experts_swiglu(xq, xds, gate, up, ids, n, out=out) for ids in sets]
    read = 2 * k * 2880 * fmt.row_bytes(n)
    regions = [(gate, s * read, read) for s in range(n_experts // (2 * k))]
    return time_ms(cycled(calls), iters), read, regions


def report(fmt, label: str, activations: str, ms: float, read: int, floor_ms: float, copy: float) -> None:
    bw = read / (ms * 1e-3)
    print(f"| {fmt.name} | {label} | {activations} | {ms * 1e3:.1f} | {bw / 1e9:.0f} | {bw / copy:.2f} | "
          f"{floor_ms * 1e3:.1f} | {read / (floor_ms * 1e-3) / copy:.2f} | {floor_ms / ms:.2f} |", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iters", type=int, default=50)
    parser.add_argument("--activations", choices=("f32", "int8", "both"), default="both")
    parser.add_argument("--formats", default=",".join(t.name for t in TYPES),
                        help="comma-separated ggml type names (default: %(default)s)")
    args = parser.parse_args()
    types = [GGMLType[name.strip().upper()] for name in args.formats.split(",")]
    import pycuda.driver as drv
    from pycuda import gpuarray

    from runtime.cuda import ops

    device.context()
    copy = copy_bandwidth(args.iters)
    rng = np.random.default_rng(0)
    print(f"{datetime.date.today()} {drv.Context.get_device().name()}: device copy {copy / 1e9:.0f} GB/s "
          f"(read + write); programmatic launches {'on' if programmatic_launches() else 'off'}\n")
    for rows in (1, 4):
        x = gpuarray.to_gpu(rng.standard_normal((rows, 2880)).astype(np.float32))
        out = ops.quantize_q8(x)
        ms = time_ms(lambda: ops.quantize_q8(x, out=out), args.iters)
        print(f"quantize_q8 of {rows} x 2880 activations: {ms * 1e3:.1f} us")
    paths = {"f32": (False,), "int8": (True,), "both": (False, True)}[args.activations]
    print("\n| format | shape | activations | time (us) | weights GB/s | fraction of copy "
          "| plain read (us) | its fraction of copy | fraction of plain read |")
    print("|---|---|---|---:|---:|---:|---:|---:|---:|")
    for ggml_type in types:
        fmt = registry().quant_format(ggml_type)
        for shape in SHAPES:
            for int8 in paths:
                ms, read, regions = bench_case(fmt, shape, args.iters, rng, int8)
                report(fmt, shape[0], "int8" if int8 else "f32", ms, read, read_floor_ms(regions, args.iters), copy)
        if True in paths:
            ms, read, regions = bench_gate_up_swiglu(fmt, args.iters, rng)
            report(fmt, "experts gate + up + SwiGLU, one launch, 2 x 4 of 32 x 2880x2880", "int8", ms, read,
                   read_floor_ms(regions, args.iters), copy)


if __name__ == "__main__":
    main()
