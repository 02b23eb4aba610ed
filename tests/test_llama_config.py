"""The llama-family adapter without the real model: config rules, plugin registration, the Q/K row
reorder, chunked prefill equal to one-shot prefill, and the default model's error message."""
from __future__ import annotations

import numpy as np
import pytest

from plugins.llama.config import llama_config
from plugins.llama.weights import interleaved_row_order, neox_row_order
from runtime.errors import ConfigError
from runtime.gguf.reader import open_gguf
from runtime.plugins import registry
from runtime.synth import write_synthetic


def _gemma_meta(**extra):
    a = "gemma3"
    return {"general.architecture": a, f"{a}.block_count": 18, f"{a}.context_length": 32768,
            f"{a}.embedding_length": 640, f"{a}.feed_forward_length": 2048, f"{a}.attention.head_count": 4,
            f"{a}.attention.head_count_kv": 1, f"{a}.attention.key_length": 256,
            f"{a}.attention.layer_norm_rms_epsilon": 1e-6, f"{a}.rope.freq_base": 1e6,
            f"{a}.attention.sliding_window": 512, f"{a}.vocab_size": 262144, **extra}


def test_gemma3_pattern_scale_and_rope_bases():
    cfg = llama_config(_gemma_meta())
    assert [i for i in range(18) if cfg.window(i) == 0] == [5, 11, 17]
    assert cfg.attn_scale == pytest.approx(1 / 16)
    assert (cfg.local_rope_base, cfg.rope_base) == (10000.0, 1e6)


def test_unsupported_features_are_named():
    with pytest.raises(ConfigError, match="soft-capping"):
        llama_config(_gemma_meta(**{"gemma3.final_logit_softcapping": 30.0}))
    with pytest.raises(ConfigError, match="yarn"):
        llama_config(_gemma_meta(**{"gemma3.rope.scaling.type": "yarn"}))


def test_architectures_come_from_the_plugin_hook():
    for arch in ("llama", "qwen2", "gemma3"):
        assert registry().adapter_class(arch).__module__ == "plugins.llama.adapter"


def test_row_reorder_round_trips():
    rows = np.arange(2 * 8 * 3).reshape(16, 3)
    assert np.array_equal(interleaved_row_order(neox_row_order(rows, 2), 2), rows)
    # head 0 of llama.cpp's order interleaves the halves: rows 0, 4, 1, 5, ...
    assert list(neox_row_order(np.arange(8)[:, None], 1)[:, 0]) == [0, 2, 4, 6, 1, 3, 5, 7]


@pytest.mark.parametrize("preset", ["llama-tiny", "qwen2-tiny", "gemma3-tiny"])
def test_chunked_and_incremental_match_one_shot(tmp_path, preset):
    reg = registry()
    gguf = open_gguf(write_synthetic(reg.synthetic_preset(preset), tmp_path / "m.gguf", seed=1,
                                     show_progress=False))
    arch = gguf.metadata["general.architecture"]
    adapter = reg.adapter_class(arch)(arch)
    runner = adapter.build(gguf, adapter.config(gguf.metadata), "cpu", max_context=128, max_tokens_per_call=16)
    ids = list(np.random.default_rng(0).integers(0, runner.vocab_size, 40))
    one_shot = runner.forward(ids)
    runner.reset()
    stepwise = np.concatenate([runner.forward(ids[:30]), *(runner.forward([t]) for t in ids[30:])])
    assert one_shot.shape == (40, runner.vocab_size) and np.isfinite(one_shot).all()
    np.testing.assert_allclose(stepwise, one_shot, atol=1e-4)


def test_missing_demo_package_says_how_to_install(monkeypatch, tmp_path):
    import builtins

    from plugins.llama import default_model

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    real_import = builtins.__import__

    def no_demo(name, *args, **kw):
        if name == default_model.PACKAGE:
            raise ImportError(name)
        return real_import(name, *args, **kw)

    monkeypatch.setattr(builtins, "__import__", no_demo)
    with pytest.raises(default_model.DefaultModelError, match=r"pip install 'plugrt\[demo\]'"):
        default_model.default_model_path()
