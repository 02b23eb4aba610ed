"""Effective bandwidth of the fused dequantizing matvec kernels at gpt-oss-20b shapes.

Bandwidth = bytes of weights read / kernel time (CUDA events), reported as a fraction of the
device-to-device copy bandwidth measured in the same run (copy counts bytes read + written).
Kernels are timed back to back (see QueueFiller), without Python's ~10 us launch cost per call.
K-quants cannot hold 2880-wide rows, so Q4_K runs at 3072 columns (bytes are counted as they are).
Each timed call reads weights the previous calls did not touch (other experts, other copies of a
dense matrix; at least ROTATE_BYTES in turn), so the numbers are device-memory bandwidth, not L2.

    python scripts/bench_quant_kernels.py [--iters 50]
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


def bench_case(fmt, shape, iters: int, rng, busy) -> tuple[float, float]:
    from pycuda import gpuarray

    label, n_experts, k, n_out, n_in, x_rows = shape
    n_in = -(-n_in // fmt.block_size) * fmt.block_size
    if n_experts:
        w = gpuarray.to_gpu(fmt.random(rng, (n_experts, n_out, n_in)))
        # disjoint expert sets, one per call
        sets = [gpuarray.to_gpu(np.arange(s * k, (s + 1) * k, dtype=np.int32).reshape(1, k))
                for s in range(n_experts // k)]
        x = gpuarray.to_gpu(rng.standard_normal((1, x_rows, n_in)).astype(np.float32))
        out = gpuarray.empty((1, k, n_out), np.float32)
        calls = [lambda ids=ids: fmt.cuda_linear_experts(x, w, ids, n_in, out=out) for ids in sets]
        read = k * n_out * fmt.row_bytes(n_in)
    else:
        first = gpuarray.to_gpu(fmt.random(rng, (n_out, n_in)))
        read = n_out * fmt.row_bytes(n_in)
        copies = [first] + [first.copy() for _ in range(-(-ROTATE_BYTES // read) - 1)]
        x = gpuarray.to_gpu(rng.standard_normal((1, n_in)).astype(np.float32))
        out = gpuarray.empty((1, n_out), np.float32)
        calls = [lambda w=w: fmt.cuda_matvec(x, w, n_in, out=out) for w in copies]
    state = {"i": 0}

    def call():
        calls[state["i"] % len(calls)]()
        state["i"] += 1

    ms = time_ms(call, iters, busy)
    return ms, read / (ms * 1e-3)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iters", type=int, default=50)
    args = parser.parse_args()
    import pycuda.driver as drv

    device.context()
    copy = copy_bandwidth(args.iters)
    rng = np.random.default_rng(0)
    busy = QueueFiller()
    print(f"{datetime.date.today()} {drv.Context.get_device().name()}: device copy {copy / 1e9:.0f} GB/s "
          f"(read + write)\n")
    print("| format | shape | time (us) | weights GB/s | fraction of copy |")
    print("|---|---|---:|---:|---:|")
    for ggml_type in TYPES:
        fmt = registry().quant_format(ggml_type)
        for shape in SHAPES:
            ms, bw = bench_case(fmt, shape, args.iters, rng, busy)
            print(f"| {fmt.name} | {shape[0]} | {ms * 1e3:.1f} | {bw / 1e9:.0f} | {bw / copy:.2f} |", flush=True)


if __name__ == "__main__":
    main()
