"""Convert Hugging Face ``gpt_oss`` and ``gpt2`` checkpoints (safetensors + config.json) to GGUF.

The GGUF metadata is written first and parsed back with the adapter's own config, so the
tensors written are exactly the adapter's weight table. Norms, biases, sinks and the MoE
router stay F32; other matrices take ``dtype``; GPT-OSS expert stacks take ``expert_type``
(MXFP4 by default: HF's MXFP4 blocks pass through bit-exact, float experts are quantized).
"""
from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any, Callable

import numpy as np

from plugins.gpt.config import YARN_BETA_FAST, YARN_BETA_SLOW, gpt2_config, gpt_oss_config
from plugins.gpt.hf_tokenizer import tokenizer_json_metadata
from plugins.gpt.safetensors_io import SafetensorsDir
from plugins.gpt.weights import block, gpt2_weight_table, gpt_oss_weight_table, is_vector
from runtime.architecture import WeightSpec
from runtime.errors import ConfigError
from runtime.ggml_types import GGMLType, block_geometry
from runtime.gguf.writer import GGUFWriter, TensorSpec
from runtime.plugins import Registry, registry

log = logging.getLogger(__name__)

TYPES = {"f32": GGMLType.F32, "f16": GGMLType.F16, "bf16": GGMLType.BF16, "q8_0": GGMLType.Q8_0,
         "mxfp4": GGMLType.MXFP4}

#: A tensor's data: float32 values to be stored in a chosen type, or ready raw blocks.
Source = Callable[[], np.ndarray]


class Raw:
    """Already-encoded blocks of ``ggml_type`` (HF's MXFP4 experts), written as they are."""

    def __init__(self, ggml_type: GGMLType, data: Source):
        self.ggml_type, self.data = ggml_type, data


def convert_hf(hf_dir: str | Path, out_path: str | Path, *, dtype: str = "f32", expert_type: str = "mxfp4",
               reg: Registry | None = None, show_progress: bool | None = None) -> Path:
    """Write ``out_path`` from the checkpoint in ``hf_dir``; returns ``out_path``."""
    hf_dir, out_path = Path(hf_dir), Path(out_path)
    dense = [t for t in TYPES if t != "mxfp4"]
    if dtype not in dense:
        raise ConfigError(f"dtype {dtype!r} is not one of {', '.join(dense)}")
    if expert_type not in TYPES:
        raise ConfigError(f"expert_type {expert_type!r} is not one of {', '.join(TYPES)}")
    reg = reg or registry()
    hf = _read_config(hf_dir)
    ckpt = SafetensorsDir(hf_dir)
    model_type = hf.get("model_type")
    if model_type == "gpt_oss":
        metadata = _gpt_oss_metadata(hf)
        table = gpt_oss_weight_table(gpt_oss_config(metadata))
        sources = _gpt_oss_sources(hf, ckpt)
    elif model_type == "gpt2":
        metadata = _gpt2_metadata(hf)
        table = gpt2_weight_table(gpt2_config(metadata))
        sources = _gpt2_sources(hf, ckpt)
    else:
        raise ConfigError(f"{hf_dir}: model_type {model_type!r} is not convertible (expected gpt_oss or gpt2)")
    metadata.update(_tokenizer_metadata(hf_dir, metadata))

    writer = GGUFWriter()
    for key, value in metadata.items():
        writer.add(key, value)
    for spec in table:
        source = sources.get(spec.name)
        if source is None:
            if spec.optional:
                continue
            raise ConfigError(f"{hf_dir}: no checkpoint tensor for {spec.name!r} ({spec.role})")
        writer.add_tensor(_tensor(spec, source, _type_for(spec, TYPES[dtype], TYPES[expert_type]), reg))
    log.info("converting %s (%s) -> %s: %s, experts %s", hf_dir, model_type, out_path, dtype, expert_type)
    writer.write(out_path, show_progress=show_progress)
    return out_path


def _read_config(hf_dir: Path) -> dict[str, Any]:
    path = hf_dir / "config.json"
    if not path.is_file():
        raise ConfigError(f"{hf_dir}: no config.json")
    return json.loads(path.read_text())


def _type_for(spec: WeightSpec, dtype: GGMLType, expert_type: GGMLType) -> GGMLType:
    if is_vector(spec):
        return GGMLType.F32
    wanted = expert_type if spec.name.endswith("_exps.weight") else dtype
    if spec.shape[-1] % block_geometry(wanted)[0]:
        log.warning("%s: rows of %d do not fit %s blocks; stored as F16", spec.name, spec.shape[-1], wanted.name)
        return GGMLType.F16
    return wanted


def _tensor(spec: WeightSpec, source: Source | Raw, ggml_type: GGMLType, reg: Registry) -> TensorSpec:
    if isinstance(source, Raw):
        if source.ggml_type == ggml_type:
            return TensorSpec(spec.name, spec.shape, ggml_type, source.data)
        fmt = reg.quant_format(source.ggml_type)
        source = lambda raw=source.data: fmt.dequantize(raw())  # noqa: E731

    def encode() -> np.ndarray:
        values = np.asarray(source(), dtype=np.float32)
        if values.shape != spec.shape:
            raise ConfigError(f"{spec.name}: checkpoint gives shape {values.shape}, expected {spec.shape}")
        return reg.quant_format(ggml_type).quantize(np.ascontiguousarray(values))
    return TensorSpec(spec.name, spec.shape, ggml_type, encode)


# -- GPT-OSS ---------------------------------------------------------------------
def _rope(hf: dict[str, Any]) -> dict[str, Any]:
    rope = dict(hf.get("rope_parameters") or hf.get("rope_scaling") or {})
    rope.setdefault("rope_theta", hf.get("rope_theta", 150000.0))
    return rope


def _gpt_oss_metadata(hf: dict[str, Any]) -> dict[str, Any]:
    a = "gpt-oss"
    n_layers = hf["num_hidden_layers"]
    head_dim = hf.get("head_dim") or hf["hidden_size"] // hf["num_attention_heads"]
    layer_types = hf.get("layer_types") or ["sliding_attention" if i % 2 == 0 else "full_attention"
                                            for i in range(n_layers)]
    meta = {
        "general.architecture": a, "general.name": hf.get("_name_or_path") or "gpt-oss",
        f"{a}.vocab_size": hf["vocab_size"],
        f"{a}.block_count": n_layers, f"{a}.context_length": hf["max_position_embeddings"],
        f"{a}.embedding_length": hf["hidden_size"], f"{a}.feed_forward_length": hf["intermediate_size"],
        f"{a}.expert_feed_forward_length": hf["intermediate_size"],
        f"{a}.attention.head_count": hf["num_attention_heads"],
        f"{a}.attention.head_count_kv": hf.get("num_key_value_heads") or hf["num_attention_heads"],
        f"{a}.attention.key_length": head_dim, f"{a}.attention.value_length": head_dim,
        f"{a}.attention.layer_norm_rms_epsilon": float(hf.get("rms_norm_eps", 1e-5)),
        f"{a}.attention.sliding_window": hf["sliding_window"],
        f"{a}.attention.sliding_window_pattern": np.array([t == "sliding_attention" for t in layer_types]),
        f"{a}.expert_count": hf["num_local_experts"], f"{a}.expert_used_count": hf["num_experts_per_tok"],
    }
    rope = _rope(hf)
    meta[f"{a}.rope.freq_base"] = float(rope["rope_theta"])
    if rope.get("rope_type", rope.get("type")) == "yarn":
        if rope.get("truncate", True):
            log.warning("checkpoint asks for a rounded YaRN correction range (truncate=true); GGUF cannot "
                        "say so and plugrt defaults to GPT-OSS's unrounded range")
        meta |= {f"{a}.rope.scaling.type": "yarn", f"{a}.rope.scaling.factor": float(rope["factor"]),
                 f"{a}.rope.scaling.original_context_length": rope["original_max_position_embeddings"],
                 f"{a}.rope.scaling.yarn_beta_fast": float(rope.get("beta_fast") or YARN_BETA_FAST),
                 f"{a}.rope.scaling.yarn_beta_slow": float(rope.get("beta_slow") or YARN_BETA_SLOW)}
    for key, default in (("swiglu_alpha", 1.702), ("swiglu_limit", 7.0)):
        if abs(hf.get(key, default) - default) > 1e-9:
            raise ConfigError(f"{key}={hf[key]} differs from GPT-OSS's {default}, which GGUF cannot carry")
    return meta


def _gpt_oss_sources(hf: dict[str, Any], ckpt: SafetensorsDir) -> dict[str, Source | Raw]:
    get = lambda name: (lambda: ckpt.float32(name))  # noqa: E731
    src: dict[str, Source | Raw] = {"token_embd.weight": get("model.embed_tokens.weight"),
                                    "output_norm.weight": get("model.norm.weight")}
    src["output.weight"] = get("lm_head.weight") if "lm_head.weight" in ckpt else src["token_embd.weight"]
    for i in range(hf["num_hidden_layers"]):
        p = f"model.layers.{i}."
        names = {"attn_norm.weight": "input_layernorm.weight", "attn_sinks.weight": "self_attn.sinks",
                 "post_attention_norm.weight": "post_attention_layernorm.weight",
                 "ffn_gate_inp.weight": "mlp.router.weight", "ffn_gate_inp.bias": "mlp.router.bias",
                 "ffn_down_exps.bias": "mlp.experts.down_proj_bias"}
        for proj, hf_proj in (("attn_q", "q_proj"), ("attn_k", "k_proj"), ("attn_v", "v_proj"),
                              ("attn_output", "o_proj")):
            names |= {f"{proj}.weight": f"self_attn.{hf_proj}.weight", f"{proj}.bias": f"self_attn.{hf_proj}.bias"}
        src |= {block(i, g): get(p + h) for g, h in names.items()}
        src |= _gpt_oss_experts(ckpt, i, p + "mlp.experts.")
    return src


def _gpt_oss_experts(ckpt: SafetensorsDir, i: int, p: str) -> dict[str, Source | Raw]:
    """HF stores gate and up interleaved (gate = even rows/columns, up = odd). Float experts are
    [E, in, out]; MXFP4 ones are [E, out, in/32, 16] blocks + [E, out, in/32] exponents."""
    bias = lambda parity: (lambda: ckpt.float32(p + "gate_up_proj_bias")[:, parity::2])  # noqa: E731
    src: dict[str, Source | Raw] = {block(i, "ffn_gate_exps.bias"): bias(0), block(i, "ffn_up_exps.bias"): bias(1)}
    if p + "gate_up_proj_blocks" in ckpt:
        mx = lambda name, rows: Raw(GGMLType.MXFP4, lambda: openai_mxfp4_to_ggml(  # noqa: E731
            ckpt.raw(p + name + "_blocks")[:, rows], ckpt.raw(p + name + "_scales")[:, rows]))
        src |= {block(i, "ffn_gate_exps.weight"): mx("gate_up_proj", slice(0, None, 2)),
                block(i, "ffn_up_exps.weight"): mx("gate_up_proj", slice(1, None, 2)),
                block(i, "ffn_down_exps.weight"): mx("down_proj", slice(None))}
    else:
        gate_up = lambda parity: (  # noqa: E731
            lambda: ckpt.float32(p + "gate_up_proj")[:, :, parity::2].transpose(0, 2, 1))
        src |= {block(i, "ffn_gate_exps.weight"): gate_up(0), block(i, "ffn_up_exps.weight"): gate_up(1),
                block(i, "ffn_down_exps.weight"): lambda: ckpt.float32(p + "down_proj").transpose(0, 2, 1)}
    return src


def openai_mxfp4_to_ggml(blocks: np.ndarray, scales: np.ndarray) -> np.ndarray:
    """HF/OpenAI MXFP4 (byte j = elements 2j | 2j+1 << 4, E8M0 scale 2^(s-127) of E2M1 values) to
    ggml's blocks (scale byte, then byte j = element j | element j+16 << 4, values doubled with
    2^(e-128)): the exponent byte carries over unchanged, only the nibbles move."""
    blocks = np.asarray(blocks, dtype=np.uint8)
    codes = np.stack([blocks & 0x0F, blocks >> 4], axis=-1).reshape(*blocks.shape[:-1], 32)
    packed = codes[..., :16] | (codes[..., 16:] << 4)
    out = np.concatenate([np.asarray(scales, dtype=np.uint8)[..., None], packed], axis=-1)
    return out.reshape(*blocks.shape[:-2], blocks.shape[-2] * 17)


# -- GPT-2 -----------------------------------------------------------------------
def _gpt2_metadata(hf: dict[str, Any]) -> dict[str, Any]:
    a = "gpt2"
    act = hf.get("activation_function", "gelu_new")
    if act not in ("gelu_new", "gelu_pytorch_tanh", "gelu_fast"):
        raise ConfigError(f"GPT-2 activation {act!r} is not the tanh GELU plugrt implements")
    return {"general.architecture": a, "general.name": hf.get("_name_or_path") or "gpt2",
            f"{a}.vocab_size": hf["vocab_size"],
            f"{a}.block_count": hf["n_layer"], f"{a}.context_length": hf["n_positions"],
            f"{a}.embedding_length": hf["n_embd"], f"{a}.feed_forward_length": hf.get("n_inner") or 4 * hf["n_embd"],
            f"{a}.attention.head_count": hf["n_head"],
            f"{a}.attention.layer_norm_epsilon": float(hf.get("layer_norm_epsilon", 1e-5))}


def _gpt2_sources(hf: dict[str, Any], ckpt: SafetensorsDir) -> dict[str, Source]:
    prefix = "transformer." if "transformer.wte.weight" in ckpt else ""
    get = lambda name: (lambda: ckpt.float32(prefix + name))  # noqa: E731
    conv1d = lambda name: (lambda: ckpt.float32(prefix + name).T)  # noqa: E731  HF Conv1D is [in, out]
    src = {"token_embd.weight": get("wte.weight"), "position_embd.weight": get("wpe.weight"),
           "output_norm.weight": get("ln_f.weight"), "output_norm.bias": get("ln_f.bias")}
    if not hf.get("tie_word_embeddings", True) and "lm_head.weight" in ckpt:
        src["output.weight"] = lambda: ckpt.float32("lm_head.weight")
    for i in range(hf["n_layer"]):
        h = f"h.{i}."
        src |= {block(i, "attn_norm.weight"): get(h + "ln_1.weight"), block(i, "attn_norm.bias"): get(h + "ln_1.bias"),
                block(i, "attn_qkv.weight"): conv1d(h + "attn.c_attn.weight"),
                block(i, "attn_qkv.bias"): get(h + "attn.c_attn.bias"),
                block(i, "attn_output.weight"): conv1d(h + "attn.c_proj.weight"),
                block(i, "attn_output.bias"): get(h + "attn.c_proj.bias"),
                block(i, "ffn_norm.weight"): get(h + "ln_2.weight"), block(i, "ffn_norm.bias"): get(h + "ln_2.bias"),
                block(i, "ffn_up.weight"): conv1d(h + "mlp.c_fc.weight"), block(i, "ffn_up.bias"): get(h + "mlp.c_fc.bias"),
                block(i, "ffn_down.weight"): conv1d(h + "mlp.c_proj.weight"),
                block(i, "ffn_down.bias"): get(h + "mlp.c_proj.bias")}
    return src


# -- tokenizer -------------------------------------------------------------------
def _tokenizer_metadata(hf_dir: Path, metadata: dict[str, Any]) -> dict[str, Any]:
    arch = metadata["general.architecture"]
    vocab_size = metadata[f"{arch}.vocab_size"]
    if (hf_dir / "tokenizer.json").is_file():
        return tokenizer_json_metadata(hf_dir, vocab_size, arch)
    from runtime.tokenizer import synthetic_vocab_metadata

    log.info("%s has no tokenizer.json: writing a synthetic %s vocabulary", hf_dir, arch)
    return synthetic_vocab_metadata(vocab_size, arch)
