"""Synthetic presets of the llama family (``plugrt synth``): tiny random models for tests, and
Gemma 3 270M's shapes."""
from __future__ import annotations

from runtime.architecture import WeightSpec
from runtime.ggml_types import GGMLType
from runtime.synth import SynthPreset, fits


def q8_0_matrices(w: WeightSpec) -> GGMLType:
    return GGMLType.Q8_0 if fits(GGMLType.Q8_0, w) else GGMLType.F32


def q4_k_m_family(w: WeightSpec) -> GGMLType:
    """Q4_K_M's types: Q6_K (fall-back Q8_0) for the embedding, Q4_K (fall-back Q5_0) elsewhere."""
    if w.name.startswith(("token_embd", "output")):
        return GGMLType.Q6_K if fits(GGMLType.Q6_K, w) else GGMLType.Q8_0
    return GGMLType.Q4_K if fits(GGMLType.Q4_K, w) else GGMLType.Q5_0


def _metadata(arch: str, *, layers, hidden, heads, kv_heads, head_dim, ffn, context, rope_base, eps,
              window: int = 0) -> dict:
    meta = {f"{arch}.block_count": layers, f"{arch}.context_length": context,
            f"{arch}.embedding_length": hidden, f"{arch}.feed_forward_length": ffn,
            f"{arch}.attention.head_count": heads, f"{arch}.attention.head_count_kv": kv_heads,
            f"{arch}.attention.key_length": head_dim, f"{arch}.attention.value_length": head_dim,
            f"{arch}.attention.layer_norm_rms_epsilon": eps, f"{arch}.rope.freq_base": rope_base}
    if window:
        meta[f"{arch}.attention.sliding_window"] = window
    return meta


_TINY = dict(layers=2, hidden=256, heads=4, kv_heads=2, head_dim=64, ffn=512, context=512, eps=1e-5)

PRESETS = [
    SynthPreset("llama-tiny", "llama", _metadata("llama", **_TINY, rope_base=10000.0), q8_0_matrices,
                vocab_size=1024, vocab_flavour="gpt2", description="2-layer Llama (Q8_0) for tests"),
    SynthPreset("qwen2-tiny", "qwen2", _metadata("qwen2", **_TINY, rope_base=1e6), q8_0_matrices,
                vocab_size=1024, vocab_flavour="gpt2", description="2-layer Qwen2 (Q8_0, q/k/v biases) for tests"),
    SynthPreset("gemma3-tiny", "gemma3",
                _metadata("gemma3", **{**_TINY, "layers": 7, "head_dim": 256}, rope_base=1e6, window=16),
                q8_0_matrices, vocab_size=1024, vocab_flavour="gpt2",
                description="7-layer Gemma 3 (6 local + 1 global, 256-wide heads, Q8_0) for tests"),
    SynthPreset("gemma3-270m", "gemma3",
                _metadata("gemma3", layers=18, hidden=640, heads=4, kv_heads=1, head_dim=256, ffn=2048,
                          context=32768, rope_base=1e6, eps=1e-6, window=512),
                q4_k_m_family, vocab_size=262144, vocab_flavour="gpt2",
                description="Gemma 3 270M shapes with Q4_K_M-family types"),
]
