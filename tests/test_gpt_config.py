"""GPT plugin configs from GGUF metadata, the weight tables and the YaRN frequencies."""
from __future__ import annotations

import math

import numpy as np
import pytest

from plugins.gpt.adapter import GPTInferenceAdapter
from plugins.gpt.config import RopeScaling, gpt2_config, gpt_oss_config
from plugins.gpt.presets import PRESETS
from plugins.gpt.rope import correction_range, rope_frequencies
from runtime.errors import ConfigError
from runtime.plugins import registry


def preset_metadata(name: str) -> dict:
    preset = next(p for p in PRESETS if p.name == name)
    return {**preset.metadata, f"{preset.architecture}.vocab_size": preset.vocab_size}


def test_gpt_oss_20b_config():
    cfg = gpt_oss_config(preset_metadata("gpt-oss-20b"))
    assert (cfg.n_layers, cfg.hidden_size, cfg.n_heads, cfg.n_kv_heads, cfg.head_dim) == (24, 2880, 64, 8, 64)
    assert (cfg.n_experts, cfg.n_experts_used, cfg.expert_ffn, cfg.vocab_size) == (32, 4, 2880, 201088)
    assert cfg.rope_scaling.type == "yarn" and cfg.rope_scaling.factor == 32.0
    assert cfg.sliding_layers[:4] == (True, False, True, False)
    assert [cfg.window(i) for i in range(2)] == [128, 0]


def test_vocab_size_falls_back_to_token_list():
    meta = preset_metadata("gpt2-tiny")
    del meta["gpt2.vocab_size"]
    meta["tokenizer.ggml.tokens"] = [f"t{i}" for i in range(77)]
    assert gpt2_config(meta).vocab_size == 77


def test_vocab_size_without_key_or_token_list_is_named():
    meta = preset_metadata("gpt2-tiny")
    del meta["gpt2.vocab_size"]
    meta.pop("tokenizer.ggml.tokens", None)
    with pytest.raises(ConfigError, match="neither gpt2.vocab_size nor tokenizer.ggml.tokens"):
        gpt2_config(meta)


@pytest.mark.parametrize("missing", ["gpt-oss.attention.head_count_kv", "gpt-oss.rope.freq_base",
                                     "gpt-oss.rope.scaling.original_context_length"])
def test_missing_key_is_named(missing):
    meta = preset_metadata("gpt-oss-tiny")
    del meta[missing]
    with pytest.raises(ConfigError, match=missing.replace(".", r"\.")):
        gpt_oss_config(meta)


@pytest.mark.parametrize("key, value, message", [
    ("gpt-oss.attention.head_count_kv", 3, "not a multiple"),
    ("gpt-oss.expert_used_count", 9, "exceeds expert_count"),
    ("gpt-oss.attention.value_length", 32, "differs from key_length"),
    ("gpt-oss.attention.sliding_window_pattern", [True], "block_count"),
    ("gpt-oss.rope.scaling.type", "linear", "not supported"),
    ("gpt-oss.block_count", 0, "positive"),
])
def test_inconsistent_gpt_oss_metadata(key, value, message):
    meta = preset_metadata("gpt-oss-tiny") | {key: value}
    with pytest.raises(ConfigError, match=message):
        gpt_oss_config(meta)


def test_inconsistent_gpt2_metadata():
    with pytest.raises(ConfigError, match="not a multiple of head_count"):
        gpt2_config(preset_metadata("gpt2-tiny") | {"gpt2.attention.head_count": 5})


def test_explicit_sliding_pattern():
    meta = preset_metadata("gpt-oss-tiny") | {"gpt-oss.attention.sliding_window_pattern": np.array([False, True])}
    assert gpt_oss_config(meta).sliding_layers == (False, True)


def test_weight_tables_match_the_shapes():
    adapter = GPTInferenceAdapter("gpt-oss")
    cfg = adapter.config(preset_metadata("gpt-oss-20b"))
    table = {w.name: w for w in adapter.weight_table(cfg)}
    assert len(table) == 3 + 24 * 19
    assert table["blk.3.ffn_gate_exps.weight"].shape == (32, 2880, 2880)
    assert table["blk.3.ffn_down_exps.bias"].shape == (32, 2880)
    assert table["blk.0.attn_q.weight"].shape == (4096, 2880)
    assert table["blk.0.attn_k.weight"].shape == (512, 2880)
    assert table["blk.0.attn_output.weight"].shape == (2880, 4096)
    assert table["blk.0.attn_sinks.weight"].shape == (64,)
    gpt2 = GPTInferenceAdapter("gpt2")
    names = {w.name: w for w in gpt2.weight_table(gpt2.config(preset_metadata("gpt2-124m")))}
    assert names["blk.11.attn_qkv.weight"].shape == (2304, 768)
    assert names["position_embd.weight"].shape == (1024, 768)
    assert names["output.weight"].optional


def test_registered_for_both_architectures():
    reg = registry()
    assert reg.adapter_class("gpt-oss") is GPTInferenceAdapter
    assert reg.adapter_class("gpt2") is GPTInferenceAdapter
    with pytest.raises(ConfigError):
        GPTInferenceAdapter("llama")


GPT_OSS_YARN = RopeScaling(type="yarn", factor=32.0, original_context_length=4096)


def test_yarn_correction_range_unrounded_by_default():
    low, high = correction_range(GPT_OSS_YARN, 64, 150000.0)
    assert low == pytest.approx(8.09, abs=0.01) and high == pytest.approx(17.40, abs=0.01)
    rounded = GPT_OSS_YARN.model_copy(update={"truncate": True})
    assert correction_range(rounded, 64, 150000.0) == (8, 18)


@pytest.mark.parametrize("truncate", [False, True])
def test_yarn_frequencies_match_transformers(truncate):
    transformers = pytest.importorskip("transformers")
    from transformers.modeling_rope_utils import ROPE_INIT_FUNCTIONS

    hf = transformers.GptOssConfig(rope_parameters=dict(
        rope_type="yarn", factor=32.0, beta_fast=32.0, beta_slow=1.0, truncate=truncate,
        original_max_position_embeddings=4096, rope_theta=150000.0))
    ref_freq, ref_factor = ROPE_INIT_FUNCTIONS["yarn"](hf, "cpu")
    ours, factor = rope_frequencies(64, 150000.0, GPT_OSS_YARN.model_copy(update={"truncate": truncate}))
    np.testing.assert_allclose(ours, ref_freq.numpy(), rtol=1e-6)
    assert factor == pytest.approx(ref_factor) == pytest.approx(0.1 * math.log(32) + 1)


def test_rounding_changes_the_frequencies():
    plain, _ = rope_frequencies(64, 150000.0, GPT_OSS_YARN)
    rounded, _ = rope_frequencies(64, 150000.0, GPT_OSS_YARN.model_copy(update={"truncate": True}))
    assert np.abs(plain - rounded).max() > 1e-4


def test_plain_rope_frequencies():
    freq, factor = rope_frequencies(8, 10000.0, RopeScaling())
    np.testing.assert_allclose(freq, 10000.0 ** (-np.arange(0, 8, 2) / 8), rtol=1e-6)
    assert factor == 1.0
