"""Out-of-memory recovery on the CPU backend, by fault injection: an allocator that fails at its
N-th call, for every N of a load and of a generation step."""
import gc

import numpy as np
import pytest

import runtime
from runtime.backend.allocator import HostAllocator
from runtime.errors import OutOfDeviceMemory
from runtime.plugins import registry
from runtime.synth import write_synthetic

PRESETS = ["gpt-oss-tiny", "gpt2-tiny", "gemma3-tiny"]
GREEDY = dict(max_tokens=4, temperature=0.0)


class FailingAllocator(HostAllocator):
    """Refuses its ``fail_at``-th allocation (counting from 1), like a device that is full."""

    def __init__(self, fail_at: int | None = None):
        super().__init__()
        self.fail_at = fail_at

    def _allocate(self, key, nbytes, what):
        if self.calls == self.fail_at:
            raise OutOfDeviceMemory(f"injected failure at allocation {self.calls} ({what})")
        return super()._allocate(key, nbytes, what)


@pytest.fixture(scope="module", params=PRESETS)
def model_path(request, tmp_path_factory):
    path = tmp_path_factory.mktemp("oom") / f"{request.param}.gguf"
    return write_synthetic(registry().synthetic_preset(request.param), path, seed=5)


def load(path, allocator=None):
    return runtime.load(path, device="cpu", context_length=128, allocator=allocator)


def test_transaction_releases_what_it_allocated_and_keeps_the_rest():
    alloc = HostAllocator()
    kept = alloc.allocate(100)
    with pytest.raises(RuntimeError):
        with alloc.transaction("op"):
            temp = alloc.allocate(1000)  # noqa: F841 - still referenced by this frame
            raise RuntimeError("boom")
    assert (alloc.live_count, alloc.live_bytes) == (1, 100)
    del kept
    gc.collect()
    assert (alloc.live_count, alloc.live_bytes, alloc.peak_bytes) == (0, 0, 1100)


def test_capacity_refuses_like_a_full_device():
    alloc = HostAllocator(capacity=1000)
    first = alloc.allocate(600)  # noqa: F841
    with pytest.raises(OutOfDeviceMemory, match="do not fit"):
        alloc.allocate(600, "second")
    assert alloc.live_bytes == 600


def test_every_allocation_failure_of_a_load_leaves_nothing_allocated(model_path):
    clean = FailingAllocator()
    load(model_path, clean)
    n_calls = clean.calls
    assert n_calls > 10
    for n in range(1, n_calls + 1):
        alloc = FailingAllocator(fail_at=n)
        with pytest.raises(OutOfDeviceMemory, match=f"allocation {n} "):
            load(model_path, alloc)
        assert (alloc.live_count, alloc.live_bytes) == (0, 0), f"failure at allocation {n} leaked"


def test_every_allocation_failure_of_a_generation_step_is_recovered(model_path):
    """A failed step frees its temporaries, keeps the model's own memory, and the model (and another
    model loaded before it) then generate exactly what they would have."""
    other = load(model_path)
    expected = other.generate("hello", **GREEDY).token_ids

    alloc = FailingAllocator()
    model = load(model_path, alloc)
    loaded = (alloc.live_count, alloc.live_bytes)
    before = alloc.calls
    assert model.generate("hello", **GREEDY).token_ids == expected
    step_calls = alloc.calls - before
    gc.collect()
    assert (alloc.live_count, alloc.live_bytes) == loaded

    for n in range(1, step_calls + 1):
        alloc.fail_at = alloc.calls + n
        with pytest.raises(OutOfDeviceMemory):
            model.generate("hello", **GREEDY)
        assert (alloc.live_count, alloc.live_bytes) == loaded, f"failure at call {n} of the step leaked"
    alloc.fail_at = None
    assert model.generate("hello", **GREEDY).token_ids == expected
    assert other.generate("hello", **GREEDY).token_ids == expected


def test_a_failed_load_does_not_disturb_a_loaded_model(model_path):
    other = load(model_path)
    ids = other.tokenizer.encode("hello", add_special=False)
    before = other.logits(ids)
    with pytest.raises(OutOfDeviceMemory):
        load(model_path, HostAllocator(capacity=1024))
    np.testing.assert_array_equal(other.logits(ids), before)
