"""Programmatic dependent launch in recorded graphs (runtime/cuda/graph.py, pdl.cuh): the int8
products start before the kernel they follow has finished, and must still see everything it wrote.

A chain of MoE-like layers, each product reading what the kernel just before it wrote (norm ->
dense product -> router product -> top-k ids -> gate + up + SwiGLU of the chosen experts -> down ->
combine), then an LM-head-sized product, is recorded once and replayed on inputs other than the
recording's: every replay must equal the same chain launched kernel by kernel, bit for bit. A
product that read its input before the kernel before it was done would read the previous replay's
values there. The down product reads its expert ids before its wait (ids_ready: the kernel in
front of it is the quantization of its input), so the replays route to other experts than the
recording did.
"""
from __future__ import annotations

import numpy as np
import pytest

from runtime.ggml_types import GGMLType
from runtime.plugins import registry

pytestmark = pytest.mark.cuda

LAYERS = 3
EXPERTS, CHOSEN = 32, 4
#: products that wait in-kernel, each after another kernel: per layer the dense and router products,
#: the fused gate + up and the down product; then the LM head
WAITING_LAUNCHES = 4 * LAYERS + 1


def build_chain(gpuarray, fmt, seed: int):
    """(x, step): the chain's input buffer and a call that launches the chain on it, returning the
    logits and appending every array it allocates to the list it is given."""
    from runtime import quant_cuda
    from runtime.cuda import ops

    rng = np.random.default_rng(seed)
    d = -(-2880 // fmt.block_size) * fmt.block_size

    def weights(*rows):
        return gpuarray.to_gpu(fmt.random(rng, (*rows, d), 0.02))

    dense, router, head = weights(d), weights(EXPERTS), weights(quant_cuda.PAIRED_MATVEC_ROWS)
    gate, up, down = weights(EXPERTS, d), weights(EXPERTS, d), weights(EXPERTS, d)
    norm = gpuarray.to_gpu(np.ones(d, np.float32))
    x = gpuarray.zeros((1, d), np.float32)

    def step(keep: list):
        h = x
        for _ in range(LAYERS):
            normed = ops.rms_norm_q8(h, norm, 1e-5)
            q, ds = getattr(normed, ops.INT8_ATTRIBUTE)
            projected = fmt.cuda_matvec_q8(q, ds, dense, d)
            q, ds = ops.quantize_q8(projected)
            logits = fmt.cuda_matvec_q8(q, ds, router, d)
            ids, mix = ops.moe_router(logits, CHOSEN)
            act = fmt.cuda_matvec_q8_experts_swiglu(q.reshape(1, 1, d), ds.reshape(1, 1, d // 32, 2), gate, up,
                                                    ids, d)
            aq, ads = ops.quantize_q8(act)
            y = fmt.cuda_matvec_q8_experts(aq, ads, down, ids, d, ids_ready=True)
            h = ops.moe_combine(y, mix)
            keep += [normed, projected, q, ds, logits, ids, mix, act, aq, ads, y, h]
        q, ds = ops.quantize_q8(h)
        keep += [q, ds]
        return fmt.cuda_matvec_q8(q, ds, head, d)

    return x, step


@pytest.mark.parametrize("ggml_type", [GGMLType.MXFP4, GGMLType.Q4_K])
def test_replays_with_programmatic_edges_equal_launches_one_by_one(gpuarray, ggml_type):
    from runtime.cuda import device
    from runtime.cuda.graph import CudaGraph

    fmt = registry().quant_format(ggml_type)
    x, step = build_chain(gpuarray, fmt, seed=1)
    rng = np.random.default_rng(2)
    inputs = [rng.standard_normal(x.shape).astype(np.float32) for _ in range(3)]
    want, routes = [], []
    for value in inputs:
        x.set(value)
        kept: list = []
        want.append(step(kept).get())
        routes.append(np.stack([a.get() for a in kept if a.dtype == np.int32]))
    buffers: list = []
    graph = CudaGraph.record(device.stream(), lambda: step(buffers), buffers)
    assert graph.programmatic_edges == WAITING_LAUNCHES
    for value, expected in zip(inputs, want):
        x.set(value)
        graph.launch()
        np.testing.assert_array_equal(graph.result.get(), expected)
    assert np.abs(want[0] - want[1]).max() > 0.1  # the inputs make a difference the replays must show
    assert all((routes[i] != routes[i + 1]).any() for i in range(len(routes) - 1))  # and choose other experts


def test_plain_edges_where_turned_off(gpuarray, monkeypatch):
    from runtime.cuda import device
    from runtime.cuda.graph import CudaGraph

    monkeypatch.setenv("PLUGRT_PDL", "0")
    x, step = build_chain(gpuarray, registry().quant_format(GGMLType.MXFP4), seed=1)
    buffers: list = []
    assert CudaGraph.record(device.stream(), lambda: step(buffers), buffers).programmatic_edges == 0
