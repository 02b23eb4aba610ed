"""Synthetic presets of the GPT architectures (``plugrt synth``): real shapes, random weights."""
from __future__ import annotations

from runtime.architecture import WeightSpec
from runtime.ggml_types import GGMLType
from runtime.synth import SynthPreset, fits


def _is_router(w: WeightSpec) -> bool:
    return "ffn_gate_inp" in w.name


def mxfp4_experts_q8_rest(w: WeightSpec) -> GGMLType:
    """ggml-org's GPT-OSS recipe: MXFP4 experts, F32 router, Q8_0 for every other matrix."""
    if _is_router(w):
        return GGMLType.F32
    return GGMLType.MXFP4 if "_exps" in w.name else GGMLType.Q8_0


def q4_k_m_family(w: WeightSpec) -> GGMLType:
    """Q4_K_M's types: Q4_K (fall-back Q5_0) for matrices, Q6_K (fall-back Q8_0) for the
    embedding and LM head; a fall-back serves rows that are not a multiple of 256."""
    if _is_router(w):
        return GGMLType.F32
    if w.name.startswith(("token_embd", "output")):
        return GGMLType.Q6_K if fits(GGMLType.Q6_K, w) else GGMLType.Q8_0
    return GGMLType.Q4_K if fits(GGMLType.Q4_K, w) else GGMLType.Q5_0


def q8_0_matrices(w: WeightSpec) -> GGMLType:
    return GGMLType.Q8_0 if fits(GGMLType.Q8_0, w) else GGMLType.F32


def _gpt_oss_metadata(*, layers, hidden, heads, kv_heads, head_dim, experts, used, expert_ffn,
                      context, window) -> dict:
    a = "gpt-oss"
    return {
        f"{a}.block_count": layers, f"{a}.context_length": context,
        f"{a}.embedding_length": hidden, f"{a}.feed_forward_length": expert_ffn,
        f"{a}.expert_feed_forward_length": expert_ffn,
        f"{a}.attention.head_count": heads, f"{a}.attention.head_count_kv": kv_heads,
        f"{a}.attention.key_length": head_dim, f"{a}.attention.value_length": head_dim,
        f"{a}.attention.layer_norm_rms_epsilon": 1e-5, f"{a}.attention.sliding_window": window,
        f"{a}.expert_count": experts, f"{a}.expert_used_count": used,
        f"{a}.rope.freq_base": 150000.0, f"{a}.rope.scaling.type": "yarn",
        f"{a}.rope.scaling.factor": 32.0, f"{a}.rope.scaling.original_context_length": 4096,
    }


def _gpt2_metadata(*, layers, hidden, heads, context) -> dict:
    a = "gpt2"
    return {f"{a}.block_count": layers, f"{a}.context_length": context, f"{a}.embedding_length": hidden,
            f"{a}.feed_forward_length": 4 * hidden, f"{a}.attention.head_count": heads,
            f"{a}.attention.layer_norm_epsilon": 1e-5}


_GPT_OSS_20B = dict(layers=24, hidden=2880, heads=64, kv_heads=8, head_dim=64, experts=32, used=4,
                    expert_ffn=2880, context=131072, window=128)
_GPT_OSS_TINY = dict(layers=2, hidden=256, heads=4, kv_heads=2, head_dim=64, experts=4, used=2,
                     expert_ffn=256, context=4096, window=16)

PRESETS = [
    SynthPreset("gpt-oss-tiny", "gpt-oss", _gpt_oss_metadata(**_GPT_OSS_TINY), mxfp4_experts_q8_rest,
                vocab_size=1024, vocab_flavour="gpt-oss",
                description="2-layer GPT-OSS (MXFP4 experts, Q8_0 rest) for tests"),
    SynthPreset("gpt-oss-tiny-q4km", "gpt-oss", _gpt_oss_metadata(**_GPT_OSS_TINY), q4_k_m_family,
                vocab_size=1024, vocab_flavour="gpt-oss",
                description="2-layer GPT-OSS with Q4_K_M-family types everywhere, for tests"),
    SynthPreset("gpt-oss-20b", "gpt-oss", _gpt_oss_metadata(**_GPT_OSS_20B), mxfp4_experts_q8_rest,
                vocab_size=201088, vocab_flavour="gpt-oss",
                description="gpt-oss-20b shapes: MXFP4 experts, Q8_0 attention/embedding/LM head (~12 GB)"),
    SynthPreset("gpt-oss-20b-q4km", "gpt-oss", _gpt_oss_metadata(**_GPT_OSS_20B), q4_k_m_family,
                vocab_size=201088, vocab_flavour="gpt-oss",
                description="gpt-oss-20b shapes with Q4_K_M-family types everywhere, experts included"),
    SynthPreset("gpt2-tiny", "gpt2", _gpt2_metadata(layers=2, hidden=128, heads=2, context=256),
                q8_0_matrices, vocab_size=1024, vocab_flavour="gpt2",
                description="2-layer GPT-2 (Q8_0, head dim 64 as the CUDA attention needs) for tests"),
    SynthPreset("gpt2-124m", "gpt2", _gpt2_metadata(layers=12, hidden=768, heads=12, context=1024),
                q8_0_matrices, vocab_size=50257, vocab_flavour="gpt2",
                description="GPT-2 124M shapes (Q8_0)"),
]
