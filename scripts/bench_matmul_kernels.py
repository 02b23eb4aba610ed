"""Device time of the tensor-core products (prefill) at gpt-oss-20b shapes, 512 tokens per call.

The expert product takes 512 tokens x 4 of 32 experts (random routing, as synthetic models route);
the dense one a 5120-row stacked q/k/v weight. Random weights; K-quants run 3072 wide (they cannot
hold 2880). Each product runs on float32 activations (fp16 tensor cores) and on int8 activations
(int8 tensor cores; the activations' quantization timed apart). Kernels are timed back to back
with CUDA events on plugrt's stream.

    python scripts/bench_matmul_kernels.py [--iters 20]
"""
from __future__ import annotations

import argparse

import numpy as np

from runtime.cuda import device
from runtime.cuda import ops as cuda_ops
from runtime.ggml_types import GGMLType
from runtime.plugins import registry

TYPES = (GGMLType.MXFP4, GGMLType.Q8_0, GGMLType.Q5_0, GGMLType.Q4_K)
TOKENS, EXPERTS, USED, ROWS, DENSE_ROWS = 512, 32, 4, 2880, 5120


def time_us(call, iters: int) -> float:
    import pycuda.driver as drv

    for _ in range(3):
        call()
    start, stop = drv.Event(), drv.Event()
    start.record(device.stream())
    for _ in range(iters):
        call()
    stop.record(device.stream())
    stop.synchronize()
    return stop.time_since(start) / iters * 1e3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iters", type=int, default=20)
    args = parser.parse_args()
    from pycuda import gpuarray

    device.context()
    rng = np.random.default_rng(0)
    ids = gpuarray.to_gpu(np.stack([rng.permutation(EXPERTS)[:USED] for _ in range(TOKENS)]).astype(np.int32))
    print("| format | product | activations | us per call | TFLOP/s |\n|---|---|---|---:|---:|")
    for ggml_type in TYPES:
        fmt = registry().quant_format(ggml_type)
        k = -(-ROWS // fmt.block_size) * fmt.block_size
        w = gpuarray.to_gpu(fmt.random(rng, (EXPERTS, ROWS, k)))
        x = gpuarray.to_gpu(rng.standard_normal((TOKENS, 1, k)).astype(np.float32))
        xq, xds = cuda_ops.quantize_q8(x)
        out = gpuarray.empty((TOKENS, USED, ROWS), np.float32)
        dense = gpuarray.to_gpu(fmt.random(rng, (DENSE_ROWS, k)))
        xd = gpuarray.to_gpu(rng.standard_normal((TOKENS, k)).astype(np.float32))
        xdq, xdds = cuda_ops.quantize_q8(xd)
        outd = gpuarray.empty((TOKENS, DENSE_ROWS), np.float32)
        experts = f"experts {TOKENS} tokens x {USED} of {EXPERTS} x {ROWS}x{k}"
        dense_label = f"dense {DENSE_ROWS}x{k}, {TOKENS} tokens"
        cases = [(experts, "float32", TOKENS * USED * ROWS * k,
                  lambda: fmt.cuda_linear_experts(x, w, ids, k, out=out)),
                 (dense_label, "float32", TOKENS * DENSE_ROWS * k, lambda: fmt.cuda_linear(xd, dense, k, out=outd))]
        if fmt.int8_activations:
            cases += [(experts, "int8", TOKENS * USED * ROWS * k,
                       lambda: fmt.cuda_matmul_q8_experts(xq, xds, w, ids, k, out=out)),
                      (dense_label, "int8", TOKENS * DENSE_ROWS * k,
                       lambda: fmt.cuda_matmul_q8(xdq, xdds, dense, k, out=outd)),
                      (f"quantize {TOKENS}x{k}", "(float32 -> int8)", 0,
                       lambda: cuda_ops.quantize_q8(x, out=(xq, xds)))]
        for label, activations, macs, call in cases:
            us = time_us(call, args.iters)
            rate = f"{2 * macs / us / 1e6:.1f}" if macs else ""
            print(f"| {fmt.name} | {label} | {activations} | {us:.1f} | {rate} |", flush=True)


if __name__ == "__main__":
    main()
