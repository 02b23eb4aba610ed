"""The device memory planner: sizes, budgets, context_length="auto", the refusal before allocating."""
import json

import numpy as np
import pytest

import runtime
from runtime.backend.allocator import HostAllocator
from runtime.cli import main
from runtime.detect import detect
from runtime.errors import ConfigError, OutOfDeviceMemory
from runtime.gguf.reader import open_gguf
from runtime.memory import device_bytes, parse_size, plan_load, plan_memory
from runtime.plugins import registry
from runtime.synth import write_synthetic

MiB = 1 << 20


@pytest.fixture(scope="module", params=["gpt-oss-tiny", "gpt2-tiny", "llama-tiny", "gemma3-tiny"])
def model_path(request, tmp_path_factory):
    path = tmp_path_factory.mktemp("plan") / f"{request.param}.gguf"
    return write_synthetic(registry().synthetic_preset(request.param), path, seed=1)


@pytest.fixture
def opened(model_path):
    with open_gguf(model_path) as gguf:
        adapter = detect(gguf)
        yield gguf, adapter, adapter.config(gguf.metadata)


@pytest.mark.parametrize("text, expected", [("24GiB", 24 << 30), ("500MB", 500_000_000), ("1.5G", 3 << 29),
                                            ("4096", 4096), ("64 mib", 64 * MiB), ("2kB", 2000), (7, 7)])
def test_parse_size(text, expected):
    assert parse_size(text) == expected


@pytest.mark.parametrize("text", ["", "12 apples", "GiB", "1.2.3G", "5iB"])
def test_parse_size_rejects_nonsense(text):
    with pytest.raises(ConfigError):
        parse_size(text)


def test_device_bytes_follow_the_driver_granularity():
    assert device_bytes(1) == 512 and device_bytes(513) == 1024
    assert device_bytes(MiB) == 2 * MiB and device_bytes(3 * MiB) == 4 * MiB and device_bytes(4 * MiB) == 4 * MiB


def test_weights_are_every_tensor_the_model_reads_at_its_stored_size(opened):
    gguf, adapter, config = opened
    plan = plan_memory(gguf, adapter, config, 64, on_cuda=False)
    weights = [r for r in plan.rows if r.item.startswith(("weights", "float32"))]
    assert sum(r.count for r in weights) == len(gguf.tensors)
    stored = sum(t.nbytes for t in gguf.tensors.values())
    assert stored <= sum(r.nbytes for r in weights) <= stored + 512 * len(gguf.tensors) + 2 * MiB * 8
    assert plan.upload_bytes <= stored


def test_kv_layout_matches_the_cache_the_runner_allocates(model_path):
    model = runtime.load(model_path, device="cpu", context_length=200)
    with open_gguf(model_path) as gguf:
        adapter = detect(gguf)
        layout = adapter.kv_cache_layout(adapter.config(gguf.metadata), 200, adapter.max_tokens_per_call)
    cache = model.runner.cache
    assert [layer.rows for layer in layout] == cache.capacities
    assert sum(layer.nbytes for layer in layout) == cache.nbytes
    assert [k.shape for k in cache.k] == [(layer.rows, layer.n_kv_heads, layer.head_dim) for layer in layout]


def test_workspace_bounds_the_temporaries_of_a_full_forward_call(model_path):
    """The planner's activation figure covers what the largest calls really keep live at once
    (max_tokens_per_call tokens with the last position's logits, and every position's logits, which
    the runner runs in calls of at most MAX_LOGIT_ROWS_PER_CALL tokens), and is not wildly above it."""
    alloc = HostAllocator()
    model = runtime.load(model_path, device="cpu", allocator=alloc)
    runner = model.runner
    with open_gguf(model_path) as gguf:
        adapter = detect(gguf)
        plan = plan_memory(gguf, adapter, adapter.config(gguf.metadata), runner.context_length, on_cuda=False)
    workspace = next(r.nbytes for r in plan.rows if r.item.startswith("activations"))
    n = plan.max_tokens_per_call
    loaded = alloc.live_bytes
    measured = 0
    for logits_for in ("last", "all"):
        alloc.reset_peak()
        runner.reset()
        runner.forward(np.arange(n) % 100, logits_for=logits_for)
        measured = max(measured, alloc.peak_bytes - loaded)
    assert measured <= workspace <= 3 * measured


def test_over_budget_raises_with_the_table_before_allocating(model_path):
    alloc = HostAllocator()
    with pytest.raises(OutOfDeviceMemory) as err:
        runtime.load(model_path, device="cpu", vram_budget="1MiB", allocator=alloc)
    message = str(err.value)
    assert "KV cache" in message and "total" in message and "over" in message
    assert alloc.calls == 0


def test_auto_context_is_the_largest_that_fits(opened):
    gguf, adapter, config = opened
    full = plan_memory(gguf, adapter, config, config.context_length, on_cuda=False)
    budget = full.total - 1
    plan = plan_load(gguf, adapter, config, device="cpu", context_length="auto", vram_budget=budget)
    assert plan.fits and 0 < plan.context_length < config.context_length
    assert plan.context_length % 256 == 0 or plan.context_length < 256
    bigger = plan_memory(gguf, adapter, config, plan.context_length + 256, on_cuda=False)
    assert bigger.total > budget
    with pytest.raises(OutOfDeviceMemory, match="smaller context_length"):
        plan_load(gguf, adapter, config, device="cpu", vram_budget=budget)


def test_load_with_auto_context_uses_the_plan(model_path):
    with open_gguf(model_path) as gguf:
        adapter = detect(gguf)
        config = adapter.config(gguf.metadata)
        budget = plan_memory(gguf, adapter, config, config.context_length, on_cuda=False).total - 1
        expected = plan_load(gguf, adapter, config, device="cpu", context_length="auto",
                             vram_budget=budget).context_length
    model = runtime.load(model_path, device="cpu", context_length="auto", vram_budget=budget)
    assert model.info.context_length == expected
    assert len(model.generate("hello", max_tokens=3, temperature=0).token_ids) == 3


def test_cuda_plans_count_the_runtime_only_for_a_whole_card_budget(opened):
    gguf, adapter, config = opened
    card = plan_load(gguf, adapter, config, device="cuda", vram_budget="24GiB")
    items = [r.item for r in card.rows]
    assert "CUDA context" in items and "CUDA kernel modules" in items
    assert all(not r.item.startswith("CUDA") for r in plan_memory(gguf, adapter, config, 64, on_cuda=False).rows)


def test_plan_command(model_path, capsys):
    assert main(["plan", str(model_path), "--device", "cpu", "--vram-budget", "1GiB", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["fits"] and report["total"] == sum(r["nbytes"] for r in report["rows"])
    assert main(["plan", str(model_path), "--device", "cpu", "--vram-budget", "100kB"]) == 1
    assert "over" in capsys.readouterr().out
