"""Effective bandwidth of the fused dequantizing matvec kernels at gpt-oss-20b shapes.

Bandwidth = bytes of weights read / kernel time (CUDA events), reported as a fraction of the
device-to-device copy bandwidth measured in the same run (copy counts bytes read + written).
Kernels are timed back to back (see QueueFiller), without Python's ~10 us launch cost per call.
K-quants cannot hold 2880-wide rows, so Q4_K runs at 3072 columns (bytes are counted as they are).
Each timed call reads weights the previous calls did not touch (other experts, other copies of a
dense matrix; at least ROTATE_BYTES in turn), so the numbers are device-memory bandwidth, not L2.
Both activation paths are timed: float32 x, and int8 x (the kernel alone; the quantization of x,
one small launch per product, is timed on its own line).

    python scripts/bench_quant_kernels.py [--iters 50] [--activations f32|int8|both] [--formats MXFP4,Q8_0]
"""
from __future__ import annotations

import argparse
import datetime

import numpy as np

from runtime.cuda import device
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


class QueueFiller:
    """A 2 GiB device copy enqueued before a timed loop keeps the GPU busy while Python enqueues
    the launches, so the events time the kernels back to back, not Python's launch rate."""

    def __init__(self):
        from pycuda import gpuarray

        self.n = 2**31
        self.src, self.dst = gpuarray.empty(self.n, np.uint8), gpuarray.empty(self.n, np.uint8)

    def __call__(self):
        import pycuda.driver as drv

        drv.memcpy_dtod_async(self.dst.gpudata, self.src.gpudata, self.n)


def time_ms(fn, iters: int, busy=None) -> float:
    import pycuda.driver as drv

    for _ in range(3):
        fn()
    start, end = drv.Event(), drv.Event()
    if busy is not None:
        busy()
    start.record()
    for _ in range(iters):
        fn()
    end.record()
    end.synchronize()
    return end.time_since(start) / iters


def copy_bandwidth(iters: int) -> float:
    """Device-to-device copy of 1 GiB, bytes read + written per second."""
    import pycuda.driver as drv
    from pycuda import gpuarray

    n = 2**30
    src, dst = gpuarray.empty(n, np.uint8), gpuarray.empty(n, np.uint8)
    ms = time_ms(lambda: drv.memcpy_dtod(dst.gpudata, src.gpudata, n), iters)
    return 2 * n / (ms * 1e-3)


#: Weights cycled through per case; well above the 50 MB L2 of an H100.
ROTATE_BYTES = 256 * 2**20


def bench_case(fmt, shape, iters: int, rng, busy, int8: bool) -> tuple[float, float]:
    from pycuda import gpuarray

    from runtime.cuda import ops

    label, n_experts, k, n_out, n_in, x_rows = shape
    n_in = -(-n_in // fmt.block_size) * fmt.block_size
    if n_experts:
        w = gpuarray.to_gpu(fmt.random(rng, (n_experts, n_out, n_in)))
        # disjoint expert sets, one per call
        sets = [gpuarray.to_gpu(np.arange(s * k, (s + 1) * k, dtype=np.int32).reshape(1, k))
                for s in range(n_experts // k)]
        x = gpuarray.to_gpu(rng.standard_normal((1, x_rows, n_in)).astype(np.float32))
        xq, xds = ops.quantize_q8(x)
        out = gpuarray.empty((1, k, n_out), np.float32)
        if int8:
            calls = [lambda ids=ids: fmt.cuda_matvec_q8_experts(xq, xds, w, ids, n_in, out=out) for ids in sets]
        else:
            calls = [lambda ids=ids: fmt.cuda_linear_experts(x, w, ids, n_in, out=out) for ids in sets]
        read = k * n_out * fmt.row_bytes(n_in)
    else:
        first = gpuarray.to_gpu(fmt.random(rng, (n_out, n_in)))
        read = n_out * fmt.row_bytes(n_in)
        copies = [first] + [first.copy() for _ in range(-(-ROTATE_BYTES // read) - 1)]
        x = gpuarray.to_gpu(rng.standard_normal((1, n_in)).astype(np.float32))
        xq, xds = ops.quantize_q8(x)
        out = gpuarray.empty((1, n_out), np.float32)
        if int8:
            calls = [lambda w=w: fmt.cuda_matvec_q8(xq, xds, w, n_in, out=out) for w in copies]
        else:
            calls = [lambda w=w: fmt.cuda_matvec(x, w, n_in, out=out) for w in copies]
    state = {"i": 0}

    def call():
        calls[state["i"] % len(calls)]()
        state["i"] += 1

    ms = time_ms(call, iters, busy)
    return ms, read / (ms * 1e-3)


def bench_gate_up_swiglu(fmt, iters: int, rng, busy) -> tuple[float, float]:
    """gpt-oss-20b's MoE gate and up (4 of 32 experts, 2880x2880 each) and their SwiGLU in one
    launch, on int8 activations."""
    from pycuda import gpuarray

    from runtime.cuda import ops

    n_experts, k, n = 32, 4, -(-2880 // fmt.block_size) * fmt.block_size
    gate, up = (gpuarray.to_gpu(fmt.random(rng, (n_experts, 2880, n))) for _ in range(2))
    sets = [gpuarray.to_gpu(np.arange(s * k, (s + 1) * k, dtype=np.int32).reshape(1, k)) for s in range(n_experts // k)]
    xq, xds = ops.quantize_q8(gpuarray.to_gpu(rng.standard_normal((1, 1, n)).astype(np.float32)))
    out = gpuarray.empty((1, k, 2880), np.float32)
    calls = [lambda ids=ids: fmt.cuda_matvec_q8_experts_swiglu(xq, xds, gate, up, ids, n, out=out) for ids in sets]
    state = {"i": 0}

    def call():
        calls[state["i"] % len(calls)]()
        state["i"] += 1

    ms = time_ms(call, iters, busy)
    return ms, 2 * k * 2880 * fmt.row_bytes(n) / (ms * 1e-3)


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
    busy = QueueFiller()
    print(f"{datetime.date.today()} {drv.Context.get_device().name()}: device copy {copy / 1e9:.0f} GB/s "
          f"(read + write)\n")
    for rows in (1, 4):
        x = gpuarray.to_gpu(rng.standard_normal((rows, 2880)).astype(np.float32))
        out = ops.quantize_q8(x)
        ms = time_ms(lambda: ops.quantize_q8(x, out=out), args.iters, busy)
        print(f"quantize_q8 of {rows} x 2880 activations: {ms * 1e3:.1f} us")
    paths = {"f32": (False,), "int8": (True,), "both": (False, True)}[args.activations]
    print("\n| format | shape | activations | time (us) | weights GB/s | fraction of copy |")
    print("|---|---|---|---:|---:|---:|")
    for ggml_type in types:
        fmt = registry().quant_format(ggml_type)
        for shape in SHAPES:
            for int8 in paths:
                ms, bw = bench_case(fmt, shape, args.iters, rng, busy, int8)
                print(f"| {fmt.name} | {shape[0]} | {'int8' if int8 else 'f32'} | {ms * 1e3:.1f} | "
                      f"{bw / 1e9:.0f} | {bw / copy:.2f} |", flush=True)
        if True in paths:
            ms, bw = bench_gate_up_swiglu(fmt, args.iters, rng, busy)
            print(f"| {fmt.name} | experts gate + up + SwiGLU, one launch, 2 x 4 of 32 x 2880x2880 | int8 | "
                  f"{ms * 1e3:.1f} | {bw / 1e9:.0f} | {bw / copy:.2f} |", flush=True)


if __name__ == "__main__":
    main()
