"""gpt-oss-20b (synthetic weights, real shapes) against the 24 GiB boundary, the planner's accuracy,
and recovery from real out-of-memory failures on the GPU.

Run as a script, ``python tests/cuda/test_memory_boundary.py MODEL CONTEXT`` measures one load +
generation in a fresh process and prints JSON (the figures in docs/MEMORY.md come from it).
"""
from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

MODEL = Path("/tmp/plugrt-gpt-oss-20b.gguf")
TINY = Path("/tmp/plugrt-gpt-oss-tiny.gguf")
CARD = 24 << 30
MiB = 1 << 20
PROMPT_TOKENS = 2100  # one full prefill call (MAX_TOKENS_PER_CALL tokens) and a partial one
GREEDY = dict(max_tokens=8, temperature=0.0)


def synthetic(preset: str, path: Path) -> Path:
    from runtime.plugins import registry
    from runtime.synth import write_synthetic

    if not path.exists():
        partial = path.with_suffix(".partial")
        write_synthetic(registry().synthetic_preset(preset), partial, seed=0)
        partial.rename(path)
    return path


def measure(path: Path, context: int, others: int = 0) -> dict:
    """Peak device use (total - least free memory seen after any allocation - ``others``, the bytes
    other processes hold) of a load, a generation and the longest call returning every position's
    logits, in this process, against the whole-card plan for the same load."""
    import numpy as np
    import pycuda.driver as drv

    import runtime
    from runtime.backend.allocator import CudaAllocator
    from runtime.cuda import device
    from runtime.detect import detect
    from runtime.gguf.reader import open_gguf
    from runtime.memory import plan_load
    from runtime.runner import MAX_LOGIT_ROWS_PER_CALL

    class Sampling(CudaAllocator):
        def _allocate(self, key, nbytes, what):
            pointer = super()._allocate(key, nbytes, what)
            self.least_free = min(self.least_free, drv.mem_get_info()[0])
            return pointer

    device.context()
    free0, total = drv.mem_get_info()
    with open_gguf(path) as gguf:
        adapter = detect(gguf)
        plan = plan_load(gguf, adapter, adapter.config(gguf.metadata), device="cuda", context_length=context,
                         vram_budget=CARD)
    alloc = Sampling()
    alloc.least_free = free0
    start = time.perf_counter()
    model = runtime.load(path, device="cuda", context_length=context, vram_budget=CARD, allocator=alloc)
    load_s = time.perf_counter() - start
    after_load = total - drv.mem_get_info()[0]
    prompt = list(np.arange(PROMPT_TOKENS) % 1000 + 10)
    tokens = model.generate(prompt, **GREEDY).token_ids
    model.logits(prompt[:MAX_LOGIT_ROWS_PER_CALL])
    after_run = total - drv.mem_get_info()[0]
    peak = total - min(alloc.least_free, drv.mem_get_info()[0]) - others
    return {"context": model.info.context_length, "plan_total": plan.total,
            "plan_rows": [[r.item, r.nbytes] for r in plan.rows], "measured_peak": peak,
            "context_before_load": total - free0, "after_load": after_load, "after_run": after_run,
            "live_bytes": alloc.live_bytes, "peak_live_bytes": alloc.peak_bytes, "load_s": load_s,
            "tokens": tokens, "device": drv.Context.get_device().name(), "total": total}


def measure_in_subprocess(drv, path: Path, context: int) -> dict:
    """:func:`measure` in a fresh process; what this process (and any other) holds is subtracted."""
    free, total = drv.mem_get_info()
    out = subprocess.run([sys.executable, __file__, str(path), str(context), str(total - free)],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


# -- tests -------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def drv():
    pytest.importorskip("pycuda")
    from runtime.cuda import device

    if not device.available():
        pytest.skip("no usable CUDA device")
    import pycuda.driver

    return pycuda.driver


@pytest.fixture(scope="module")
def model_path(drv):
    return synthetic("gpt-oss-20b", MODEL)


@pytest.fixture(scope="module")
def tiny_model(drv):
    import runtime

    model = runtime.load(synthetic("gpt-oss-tiny", TINY), device="cuda", context_length=512)
    return model, model.generate("hello world", **GREEDY).token_ids


def plan_for(path: Path, context, budget=CARD):
    from runtime.detect import detect
    from runtime.gguf.reader import open_gguf
    from runtime.memory import plan_load

    with open_gguf(path) as gguf:
        adapter = detect(gguf)
        return plan_load(gguf, adapter, adapter.config(gguf.metadata), device="cuda", context_length=context,
                         vram_budget=budget)


@pytest.mark.cuda
def test_24gib_card_holds_gpt_oss_20b_at_8k_and_the_planner_is_within_5_percent(drv, model_path):
    result = measure_in_subprocess(drv, model_path, 8192)
    print(json.dumps({k: v for k, v in result.items() if k != "plan_rows"}))
    assert result["context"] == 8192 and len(result["tokens"]) == GREEDY["max_tokens"]
    assert result["measured_peak"] <= CARD
    assert abs(result["plan_total"] - result["measured_peak"]) <= 0.05 * result["measured_peak"]


@pytest.mark.cuda
def test_auto_context_on_a_24gib_card_is_at_least_8k(model_path):
    plan = plan_for(model_path, "auto")
    assert plan.context_length >= 8192 and plan.total <= CARD


@pytest.mark.cuda
def test_budget_just_below_the_plan_fails_before_allocating(drv, model_path):
    from runtime.backend.allocator import CudaAllocator
    from runtime.errors import OutOfDeviceMemory
    import runtime

    needed = plan_for(model_path, 8192).total
    alloc = CudaAllocator()
    free_before = drv.mem_get_info()[0]
    with pytest.raises(OutOfDeviceMemory, match="KV cache"):
        runtime.load(model_path, device="cuda", context_length=8192, vram_budget=needed - MiB, allocator=alloc)
    assert alloc.calls == 0
    assert drv.mem_get_info()[0] == free_before


def _hog(drv, leave: int) -> list:
    """Allocate device memory until about ``leave`` bytes stay free."""
    held, step = [], 1 << 30
    while step >= 2 * MiB:
        free = drv.mem_get_info()[0]
        if free - step < leave:
            step //= 2
            continue
        try:
            held.append(drv.mem_alloc(step))
        except drv.MemoryError:
            step //= 2
    return held


@pytest.mark.cuda
def test_real_out_of_memory_during_a_load_frees_it_and_the_process_goes_on(drv, model_path, tiny_model):
    import runtime
    from runtime.backend.allocator import CudaAllocator
    from runtime.errors import OutOfDeviceMemory

    tiny, expected = tiny_model
    hog = _hog(drv, leave=6 << 30)  # the 20b weights alone need ~12.8 GiB
    try:
        free_before = drv.mem_get_info()[0]
        alloc = CudaAllocator()
        with pytest.raises(OutOfDeviceMemory, match="do not fit on the GPU"):
            runtime.load(model_path, device="cuda", context_length=8192, vram_budget=CARD, allocator=alloc)
        assert (alloc.live_count, alloc.live_bytes) == (0, 0)
        assert abs(drv.mem_get_info()[0] - free_before) <= 4 * MiB
        assert tiny.generate("hello world", **GREEDY).token_ids == expected
    finally:
        del hog
    model = runtime.load(model_path, device="cuda", context_length=8192, vram_budget=CARD)
    assert len(model.generate("hello", **GREEDY).token_ids) == GREEDY["max_tokens"]


@pytest.mark.cuda
def test_real_out_of_memory_during_generation_is_recovered(drv, model_path, tiny_model):
    import runtime
    from runtime.errors import OutOfDeviceMemory

    tiny, tiny_expected = tiny_model
    model = runtime.load(model_path, device="cuda", context_length=8192, vram_budget=CARD)
    prompt = list(range(10, 10 + PROMPT_TOKENS))
    expected = model.generate(prompt, **GREEDY).token_ids
    alloc = model.runner.backend.allocator
    loaded = alloc.live_bytes
    alloc.trim()  # nothing kept for reuse: the generation must ask the full device for memory
    hog = _hog(drv, leave=0)
    try:
        with pytest.raises(OutOfDeviceMemory):
            model.generate(prompt, **GREEDY)
        assert alloc.live_bytes == loaded
    finally:
        del hog
    assert model.generate(prompt, **GREEDY).token_ids == expected
    assert tiny.generate("hello world", **GREEDY).token_ids == tiny_expected


if __name__ == "__main__":
    print(json.dumps(measure(Path(sys.argv[1]), int(sys.argv[2]), *map(int, sys.argv[3:4]))))
