"""The HF -> GGUF converter of the GPT plugin."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

import hf_tiny
from plugins.gpt.convert import convert_hf, openai_mxfp4_to_ggml
from plugins.gpt.hf_tokenizer import tokenizer_json_metadata
from plugins.gpt.safetensors_io import SafetensorsDir
from plugins.gpt.weights import block
from runtime.errors import ConfigError
from runtime.ggml_types import GGMLType
from runtime.gguf.reader import open_gguf
from runtime.plugins import registry

safetensors_numpy = pytest.importorskip("safetensors.numpy")

#: OpenAI's E2M1 values, by 4-bit code
FP4_VALUES = np.array([0, .5, 1, 1.5, 2, 3, 4, 6, -0., -.5, -1, -1.5, -2, -3, -4, -6], dtype=np.float32)


def openai_dequantize(blocks, scales):
    """The HF/OpenAI MXFP4 definition: byte j = codes 2j (low) and 2j+1 (high), times 2^(scale-127)."""
    codes = np.stack([blocks & 0x0F, blocks >> 4], axis=-1).reshape(*blocks.shape[:-1], 32)
    values = FP4_VALUES[codes] * np.exp2(scales.astype(np.float32) - 127)[..., None]
    return values.reshape(*blocks.shape[:-2], -1)


def ggml_to_openai(raw: np.ndarray):
    """Inverse of openai_mxfp4_to_ggml: ggml rows [..., n*17] -> (blocks [..., n, 16], scales [..., n])."""
    b = raw.reshape(*raw.shape[:-1], -1, 17)
    qs = b[..., 1:]
    codes = np.concatenate([qs & 0x0F, qs >> 4], axis=-1)  # elements 0..31
    pairs = codes.reshape(*codes.shape[:-1], 16, 2)
    return (pairs[..., 0] | (pairs[..., 1] << 4)).astype(np.uint8), b[..., 0].copy()


def test_openai_layout_becomes_ggml_mxfp4():
    rng = np.random.default_rng(0)
    blocks = rng.integers(0, 256, size=(3, 5, 4, 16), dtype=np.uint8)
    scales = rng.integers(110, 135, size=(3, 5, 4), dtype=np.uint8)
    raw = openai_mxfp4_to_ggml(blocks, scales)
    assert raw.shape == (3, 5, 4 * 17)
    got = registry().quant_format(GGMLType.MXFP4).dequantize(raw)
    np.testing.assert_array_equal(got, openai_dequantize(blocks, scales))
    back = ggml_to_openai(raw)
    np.testing.assert_array_equal(back[0], blocks)
    np.testing.assert_array_equal(back[1], scales)


@pytest.fixture(scope="module")
def gpt_oss_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("conv") / "hf"
    hf_tiny.build("gpt_oss", d, num_hidden_layers=2, layer_types=["sliding_attention", "full_attention"])
    return d


def test_hf_mxfp4_blocks_pass_through_bit_exact(gpt_oss_dir, tmp_path):
    """A checkpoint holding MXFP4 experts (HF layout) converts to exactly the bytes that quantizing
    the same experts ourselves gives."""
    quantized = convert_hf(gpt_oss_dir, tmp_path / "q.gguf", expert_type="mxfp4")
    ckpt = SafetensorsDir(gpt_oss_dir)
    tensors = {n: np.array(ckpt.raw(n)) for n in ckpt.names()
               if not n.endswith(("experts.gate_up_proj", "experts.down_proj"))}
    with open_gguf(quantized) as gguf:
        for i in range(2):
            p = f"model.layers.{i}.mlp.experts."
            gate, up, down = (ggml_to_openai(np.array(gguf.raw(block(i, f"ffn_{t}_exps.weight"))).reshape(
                *gguf.tensors[block(i, f"ffn_{t}_exps.weight")].shape[:-1], -1)) for t in ("gate", "up", "down"))
            gate_up_blocks = np.empty((gate[0].shape[0], 2 * gate[0].shape[1], *gate[0].shape[2:]), np.uint8)
            gate_up_blocks[:, 0::2], gate_up_blocks[:, 1::2] = gate[0], up[0]
            gate_up_scales = np.empty(gate_up_blocks.shape[:-1], np.uint8)
            gate_up_scales[:, 0::2], gate_up_scales[:, 1::2] = gate[1], up[1]
            tensors |= {p + "gate_up_proj_blocks": gate_up_blocks, p + "gate_up_proj_scales": gate_up_scales,
                        p + "down_proj_blocks": down[0], p + "down_proj_scales": down[1]}
        mx_dir = tmp_path / "mx"
        mx_dir.mkdir()
        shutil.copy(gpt_oss_dir / "config.json", mx_dir)
        safetensors_numpy.save_file(tensors, mx_dir / "model.safetensors")
        passed = convert_hf(mx_dir, tmp_path / "p.gguf", expert_type="mxfp4")
        with open_gguf(passed) as out:
            assert out.tensors.keys() == gguf.tensors.keys()
            for name, info in gguf.tensors.items():
                assert out.tensors[name].ggml_type == info.ggml_type, name
                np.testing.assert_array_equal(out.raw(name), gguf.raw(name), err_msg=name)


@pytest.mark.parametrize("dtype, matrix_type", [("f16", GGMLType.F16), ("bf16", GGMLType.BF16),
                                                ("q8_0", GGMLType.Q8_0)])
def test_tensor_types(gpt_oss_dir, tmp_path, dtype, matrix_type):
    with open_gguf(convert_hf(gpt_oss_dir, tmp_path / "m.gguf", dtype=dtype)) as gguf:
        types = {name: info.ggml_type for name, info in gguf.tensors.items()}
        assert types["token_embd.weight"] == types["blk.0.attn_q.weight"] == types["output.weight"] == matrix_type
        assert types["blk.1.ffn_up_exps.weight"] == GGMLType.MXFP4
        for name in ("blk.0.attn_q.bias", "blk.0.attn_sinks.weight", "blk.0.attn_norm.weight",
                     "blk.0.ffn_gate_inp.weight", "blk.0.ffn_down_exps.bias", "output_norm.weight"):
            assert types[name] == GGMLType.F32, name
        assert gguf.metadata["gpt-oss.rope.scaling.type"] == "yarn"
        assert list(gguf.metadata["gpt-oss.attention.sliding_window_pattern"]) == [True, False]
        assert len(gguf.metadata["tokenizer.ggml.tokens"]) == 320


def test_f32_values_and_gate_up_deinterleaving(gpt_oss_dir, tmp_path):
    ckpt = SafetensorsDir(gpt_oss_dir)
    gate_up = ckpt.float32("model.layers.1.mlp.experts.gate_up_proj")  # [E, in, 2*out], gate = even columns
    with open_gguf(convert_hf(gpt_oss_dir, tmp_path / "m.gguf", expert_type="f32")) as gguf:
        def values(name):
            return np.frombuffer(gguf.raw(name), np.float32).reshape(gguf.tensors[name].shape)
        np.testing.assert_array_equal(values("blk.1.ffn_gate_exps.weight"), gate_up[:, :, 0::2].transpose(0, 2, 1))
        np.testing.assert_array_equal(values("blk.1.ffn_up_exps.weight"), gate_up[:, :, 1::2].transpose(0, 2, 1))
        np.testing.assert_array_equal(values("blk.0.attn_sinks.weight"), ckpt.float32("model.layers.0.self_attn.sinks"))


def test_gpt2_tied_head_and_transposed_conv1d(tmp_path):
    hf_tiny.build("gpt2", tmp_path / "hf", n_layer=1)
    ckpt = SafetensorsDir(tmp_path / "hf")
    with open_gguf(convert_hf(tmp_path / "hf", tmp_path / "m.gguf")) as gguf:
        assert "output.weight" not in gguf.tensors
        qkv = np.frombuffer(gguf.raw("blk.0.attn_qkv.weight"), np.float32).reshape(gguf.tensors["blk.0.attn_qkv.weight"].shape)
        np.testing.assert_array_equal(qkv, ckpt.float32("transformer.h.0.attn.c_attn.weight").T)


def test_errors(gpt_oss_dir, tmp_path):
    with pytest.raises(ConfigError, match="dtype"):
        convert_hf(gpt_oss_dir, tmp_path / "x.gguf", dtype="q4_0")
    with pytest.raises(ConfigError, match="expert_type"):
        convert_hf(gpt_oss_dir, tmp_path / "x.gguf", expert_type="int3")
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "config.json").write_text(json.dumps({"model_type": "llama"}))
    (bad / "model.safetensors").write_bytes(b"\x02\x00\x00\x00\x00\x00\x00\x00{}")
    with pytest.raises(ConfigError, match="llama"):
        convert_hf(bad, tmp_path / "x.gguf")
    partial = tmp_path / "partial"
    partial.mkdir()
    shutil.copy(gpt_oss_dir / "config.json", partial)
    ckpt = SafetensorsDir(gpt_oss_dir)
    safetensors_numpy.save_file({n: np.array(ckpt.raw(n)) for n in ckpt.names() if "sinks" not in n},
                                partial / "model.safetensors")
    with pytest.raises(ConfigError, match="sinks"):
        convert_hf(partial, tmp_path / "x.gguf")


def test_tokenizer_json_to_gguf_keys(tmp_path):
    (tmp_path / "tokenizer.json").write_text(json.dumps({
        "model": {"type": "BPE", "vocab": {"a": 0, "b": 1, "ab": 2}, "merges": [["a", "b"]]},
        "added_tokens": [{"id": 3, "content": "<|end|>", "special": True}]}))
    (tmp_path / "tokenizer_config.json").write_text(json.dumps({"eos_token": "<|end|>", "chat_template": "{{x}}"}))
    meta = tokenizer_json_metadata(tmp_path, 5, "gpt-oss")
    assert meta["tokenizer.ggml.tokens"] == ["a", "b", "ab", "<|end|>", "[PAD4]"]
    assert list(meta["tokenizer.ggml.token_type"]) == [1, 1, 1, 3, 5]
    assert meta["tokenizer.ggml.merges"] == ["a b"]
    assert meta["tokenizer.ggml.pre"] == "gpt-4o" and meta["tokenizer.ggml.eos_token_id"] == 3
    assert meta["tokenizer.chat_template"] == "{{x}}"


def test_cli_convert_dispatches_on_model_type(tmp_path):
    import subprocess
    import sys

    hf_dir = tmp_path / "hf"
    hf_tiny.build("gpt2", hf_dir)
    out = tmp_path / "cli.gguf"
    r = subprocess.run([sys.executable, "-m", "runtime", "convert", str(hf_dir), str(out), "--dtype", "q8_0"],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    with open_gguf(out) as gguf:
        assert gguf.architecture == "gpt2"
        assert gguf.tensors["blk.0.attn_qkv.weight"].ggml_type == GGMLType.Q8_0


def test_cli_convert_unknown_model_type_is_a_clear_error(tmp_path):
    import subprocess
    import sys

    (tmp_path / "config.json").write_text(json.dumps({"model_type": "mamba"}))
    r = subprocess.run([sys.executable, "-m", "runtime", "convert", str(tmp_path), str(tmp_path / "o.gguf")],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "no plugin converts model_type 'mamba'" in r.stderr
