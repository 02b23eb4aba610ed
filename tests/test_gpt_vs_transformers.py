"""The GPT plugin's CPU forward passes against Hugging Face transformers (float32, eager)."""
from __future__ import annotations

import numpy as np
import pytest

import hf_tiny
from plugins.gpt.adapter import GPTInferenceAdapter
from plugins.gpt.config import gpt_oss_config
from plugins.gpt.convert import convert_hf
from plugins.gpt.weights import block
from runtime.backend import get_backend
from runtime.backend.base import raw_rows
from runtime.gguf.reader import open_gguf
from runtime.plugins import registry

torch = hf_tiny.torch
TOL = 1e-4
VOCAB = 320


def runner(path, **build_kw):
    gguf = open_gguf(path)
    adapter = GPTInferenceAdapter(gguf.architecture)
    return adapter.build(gguf, adapter.config(gguf.metadata), get_backend("cpu"), **build_kw)


@pytest.fixture(scope="module")
def gpt_oss(tmp_path_factory):
    d = tmp_path_factory.mktemp("gpt_oss")
    model = hf_tiny.build("gpt_oss", d / "hf")
    return model, convert_hf(d / "hf", d / "f32.gguf", dtype="f32", expert_type="f32")


@pytest.fixture(scope="module")
def gpt2(tmp_path_factory):
    d = tmp_path_factory.mktemp("gpt2")
    model = hf_tiny.build("gpt2", d / "hf")
    return model, convert_hf(d / "hf", d / "f32.gguf", dtype="f32")


@pytest.mark.parametrize("chunk", [256, 24], ids=["one-call", "chunked-prefill"])
def test_gpt_oss_f32_logits_match_transformers(gpt_oss, chunk):
    """64 tokens: 4x the sliding window; chunked prefill keeps the window's ring valid."""
    model, path = gpt_oss
    ids = hf_tiny.prompt(64, VOCAB)
    assert hf_tiny.rel_err(runner(path, max_tokens_per_call=chunk).forward(ids), hf_tiny.logits(model, ids)) < TOL


def test_gpt_oss_yarn_beyond_original_context(gpt_oss):
    """96 positions, 3x original_max_position_embeddings (32): the YaRN-corrected frequencies count."""
    model, path = gpt_oss
    ids = hf_tiny.prompt(96, VOCAB, seed=2)
    ours, ref = runner(path).forward(ids), hf_tiny.logits(model, ids)
    assert hf_tiny.rel_err(ours, ref) < TOL
    with open_gguf(path) as gguf:  # llama.cpp's rounded correction range is a different model
        adapter = GPTInferenceAdapter("gpt-oss")
        rounded = adapter.build(gguf, gpt_oss_config(gguf.metadata, yarn_truncate=True), "cpu").forward(ids)
    assert hf_tiny.rel_err(rounded, ref) > 10 * TOL


def test_gpt_oss_truncated_yarn_matches_transformers_truncate(tmp_path):
    model = hf_tiny.build("gpt_oss", tmp_path / "hf", rope_parameters=dict(
        rope_type="yarn", factor=8.0, beta_fast=32.0, beta_slow=1.0, truncate=True,
        original_max_position_embeddings=32, rope_theta=150000.0))
    path = convert_hf(tmp_path / "hf", tmp_path / "m.gguf", expert_type="f32")
    ids = hf_tiny.prompt(96, VOCAB, seed=3)
    with open_gguf(path) as gguf:
        run = GPTInferenceAdapter("gpt-oss").build(gguf, gpt_oss_config(gguf.metadata, yarn_truncate=True), "cpu")
        assert hf_tiny.rel_err(run.forward(ids), hf_tiny.logits(model, ids)) < TOL


def _load_dequantized_experts(model, gguf) -> None:
    """Put the GGUF's (MXFP4) expert weights, dequantized, into the HF model, re-interleaving gate/up."""
    def values(name):
        info = gguf.tensors[name]
        fmt = registry().quant_format(info.ggml_type)
        return torch.from_numpy(fmt.dequantize(raw_rows(info, gguf.raw(name), fmt)).copy())
    with torch.no_grad():
        for i, layer in enumerate(model.model.layers):
            experts = layer.mlp.experts
            experts.gate_up_proj[:, :, 0::2] = values(block(i, "ffn_gate_exps.weight")).transpose(1, 2)
            experts.gate_up_proj[:, :, 1::2] = values(block(i, "ffn_up_exps.weight")).transpose(1, 2)
            experts.down_proj.copy_(values(block(i, "ffn_down_exps.weight")).transpose(1, 2))


def test_gpt_oss_mxfp4_experts_match_transformers_on_dequantized_weights(gpt_oss, tmp_path):
    model, _ = gpt_oss
    hf_dir = tmp_path / "hf"
    model.save_pretrained(hf_dir)
    path = convert_hf(hf_dir, tmp_path / "mxfp4.gguf", dtype="f32", expert_type="mxfp4")
    ids = hf_tiny.prompt(64, VOCAB, seed=4)
    with open_gguf(path) as gguf:
        assert gguf.tensors[block(0, "ffn_gate_exps.weight")].type_name == "MXFP4"
        reference = hf_tiny.build("gpt_oss", tmp_path / "copy")  # same seed: same weights as `model`
        before = hf_tiny.logits(reference, ids)
        _load_dequantized_experts(reference, gguf)
    ref = hf_tiny.logits(reference, ids)
    assert hf_tiny.rel_err(before, ref) > 10 * TOL  # quantization really changed the experts
    assert hf_tiny.rel_err(runner(path).forward(ids), ref) < TOL


def test_gpt2_f32_logits_match_transformers(gpt2):
    model, path = gpt2
    ids = hf_tiny.prompt(64, VOCAB)
    assert hf_tiny.rel_err(runner(path).forward(ids), hf_tiny.logits(model, ids)) < TOL


def test_gpt2_untied_lm_head(tmp_path):
    model = hf_tiny.build("gpt2", tmp_path / "hf", tie_word_embeddings=False)
    path = convert_hf(tmp_path / "hf", tmp_path / "m.gguf")
    with open_gguf(path) as gguf:
        assert "output.weight" in gguf.tensors
    ids = hf_tiny.prompt(32, VOCAB)
    assert hf_tiny.rel_err(runner(path).forward(ids), hf_tiny.logits(model, ids)) < TOL


def greedy_cached(run, prompt, steps):
    run.reset()
    out, logits = [], run.forward_last(prompt)
    for _ in range(steps):
        out.append(int(np.argmax(logits)))
        logits = run.forward_last([out[-1]])
    return out


def greedy_recomputed(run, prompt, steps):
    out = []
    for _ in range(steps):
        run.reset()
        out.append(int(np.argmax(run.forward(prompt + out)[-1])))
    return out


@pytest.mark.parametrize("arch", ["gpt_oss", "gpt2"])
def test_greedy_with_kv_cache_equals_recomputing(arch, gpt_oss, gpt2):
    """Decode with the cache (sliding rings wrap: 40 + 24 positions > window 16 + chunk 8)."""
    _, path = gpt_oss if arch == "gpt_oss" else gpt2
    run = runner(path, max_tokens_per_call=8)
    prompt = hf_tiny.prompt(40, VOCAB, seed=5)
    assert greedy_cached(run, prompt, 24) == greedy_recomputed(run, prompt, 24)


def test_forward_last_is_the_last_row_and_positions_advance(gpt2):
    _, path = gpt2
    run = runner(path)
    ids = hf_tiny.prompt(20, VOCAB)
    full = run.forward(ids)
    run.reset()
    np.testing.assert_allclose(run.forward_last(ids), full[-1], rtol=1e-5, atol=1e-5)
    assert run.position == 20


def test_context_overflow_is_a_generation_error(gpt2):
    from runtime.errors import GenerationError

    _, path = gpt2
    run = runner(path, max_context=16)
    run.forward(list(range(10)))
    with pytest.raises(GenerationError, match="exceed"):
        run.forward(list(range(7)))


@pytest.mark.parametrize("preset_name", ["gpt-oss-tiny", "gpt2-tiny"])
def test_synthetic_presets_run_on_cpu(preset_name, tmp_path):
    """``plugrt synth`` files (MXFP4 experts, Q8_0 matrices) hold exactly what the adapter reads."""
    from plugins.gpt.presets import PRESETS
    from runtime.synth import write_synthetic

    preset = next(p for p in PRESETS if p.name == preset_name)
    run = runner(write_synthetic(preset, tmp_path / "m.gguf", show_progress=False), max_context=256)
    logits = run.forward(hf_tiny.prompt(40, preset.vocab_size))
    assert logits.shape == (40, preset.vocab_size) and np.isfinite(logits).all()
    assert logits.std() > 0
