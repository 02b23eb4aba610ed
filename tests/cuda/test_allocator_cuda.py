"""The CUDA allocator keeps freed buffers for reuse (cuMemFree would stall the host on every op),
gives them back on trim() and when the device is full, and the profiler's CUDA clock times the
device, not the host."""
from __future__ import annotations

import gc

import pytest

pytest.importorskip("pycuda")

import runtime  # noqa: E402
from runtime.backend.allocator import CudaAllocator  # noqa: E402
from runtime.op_profile import profile_ops  # noqa: E402
from runtime.plugins import registry  # noqa: E402
from runtime.synth import write_synthetic  # noqa: E402

pytestmark = pytest.mark.cuda
MiB = 1 << 20


@pytest.fixture(scope="module")
def drv():
    from runtime.cuda import device

    if not device.available():
        pytest.skip("no usable CUDA device")
    device.context()
    import pycuda.driver

    return pycuda.driver


def test_a_freed_buffer_is_reused_at_its_size_and_trim_returns_it(drv):
    alloc = CudaAllocator()
    first = alloc.allocate(64 * MiB)
    address = int(first)
    del first
    gc.collect()
    assert (alloc.live_bytes, alloc.cached_bytes) == (0, 64 * MiB)
    other = alloc.allocate(32 * MiB)
    assert int(other) != address  # another size: a new buffer
    again = alloc.allocate(64 * MiB)
    assert int(again) == address and alloc.cached_bytes == 0
    del again, other
    gc.collect()
    free_before = drv.mem_get_info()[0]
    alloc.trim()
    assert alloc.cached_bytes == 0
    assert drv.mem_get_info()[0] >= free_before + 96 * MiB


def test_a_full_device_empties_the_cache_before_refusing(drv):
    alloc = CudaAllocator()
    free = drv.mem_get_info()[0]
    big = alloc.allocate(int(free * 0.6))
    del big
    gc.collect()
    assert alloc.cached_bytes > free // 2
    other = alloc.allocate(int(free * 0.6) + MiB)  # fits only once the cached buffer is freed
    assert alloc.cached_bytes == 0 and alloc.live_bytes == int(free * 0.6) + MiB
    del other
    gc.collect()
    alloc.trim()


def test_forward_calls_after_the_first_allocate_nothing_new(drv, tmp_path):
    """Every temporary of a repeated call comes from the cache: no cuMemAlloc, which can stall the
    host like cuMemFree."""
    path = write_synthetic(registry().synthetic_preset("gpt-oss-tiny"), tmp_path / "m.gguf", seed=2)
    model = runtime.load(path, device="cuda", context_length=1024)
    runner, alloc = model.runner, model.runner.backend.allocator
    runner._step = False  # kernel by kernel, so that the decode step allocates its temporaries
    for prompt in ([1, 2, 3], [4]):  # a prefill of three tokens, then a decode step, each twice
        runner.forward(prompt, logits_for="last")
        calls, hits = alloc.calls, alloc._cache.hits
        runner.forward(prompt, logits_for="last")
        assert alloc.calls > calls and alloc._cache.hits - hits == alloc.calls - calls


def test_cuda_profile_rows_are_device_time(drv, tmp_path, monkeypatch):
    """Held behind a busy stream, the decode ops run back to back: the step takes far less time
    than at the host's launch pace (the same profile without the holds)."""
    from runtime import op_profile

    path = write_synthetic(registry().synthetic_preset("gpt-oss-tiny"), tmp_path / "m.gguf", seed=2)
    model = runtime.load(path, device="cuda", context_length=256)
    prefill, decode, replayed = profile_ops(model, prompt_tokens=64, decode_steps=4)
    assert replayed.rows == [] and 0 < replayed.ms_per_call < decode.ms_per_call
    for phase in (prefill, decode):
        assert phase.rows[-1].op == "outside the ops" and all(r.ms > 0 for r in phase.rows[:-1])
        assert sum(r.ms for r in phase.rows) == pytest.approx(phase.ms_per_call)
    monkeypatch.setattr(op_profile._CudaEvents, "hold", lambda self: None)
    host_paced = profile_ops(model, prompt_tokens=64, decode_steps=4)[1]
    assert decode.ms_per_call < 0.5 * host_paced.ms_per_call
