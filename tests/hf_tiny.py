"""Tiny random Hugging Face GPT-OSS and GPT-2 models, saved as safetensors checkpoints, plus
helpers to run them in float32 with eager attention (the reference the GPT plugin matches)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

torch = __import__("pytest").importorskip("torch")
transformers = __import__("pytest").importorskip("transformers")


def gpt_oss_config(**overrides):
    kw = dict(num_hidden_layers=4, num_local_experts=8, num_experts_per_tok=4, vocab_size=320, hidden_size=64,
              intermediate_size=64, head_dim=64, num_attention_heads=8, num_key_value_heads=2, sliding_window=16,
              max_position_embeddings=256,
              layer_types=["sliding_attention", "full_attention"] * 2,
              rope_parameters=dict(rope_type="yarn", factor=8.0, beta_fast=32.0, beta_slow=1.0, truncate=False,
                                   original_max_position_embeddings=32, rope_theta=150000.0))
    kw.update(overrides)
    cfg = transformers.GptOssConfig(**kw)
    cfg._attn_implementation = "eager"
    return cfg


def gpt2_config(**overrides):
    kw = dict(n_layer=3, n_embd=128, n_head=2, vocab_size=320, n_positions=256, bos_token_id=0, eos_token_id=0)
    kw.update(overrides)
    cfg = transformers.GPT2Config(**kw)
    cfg._attn_implementation = "eager"
    return cfg


def _randomize(model, seed: int) -> None:
    """Weights big enough that attention is peaked, sinks matter and SwiGLU's clamps trigger."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "norm" in name or "ln_" in name:
                p.copy_(1.0 + 0.1 * torch.randn(p.shape, generator=gen) if name.endswith("weight")
                        else 0.1 * torch.randn(p.shape, generator=gen))
            elif "sinks" in name:
                p.copy_(torch.randn(p.shape, generator=gen))
            elif "gate_up_proj" in name:
                p.copy_(0.5 * torch.randn(p.shape, generator=gen))
            else:
                p.copy_(0.1 * torch.randn(p.shape, generator=gen))


def build(kind: str, out_dir: Path, *, seed: int = 0, **overrides):
    """A random ``gpt_oss`` or ``gpt2`` model saved (safetensors) into ``out_dir``; returns the model."""
    torch.manual_seed(seed)
    if kind == "gpt_oss":
        model = transformers.GptOssForCausalLM(gpt_oss_config(**overrides))
    else:
        model = transformers.GPT2LMHeadModel(gpt2_config(**overrides))
    _randomize(model, seed)
    model.eval()
    model.save_pretrained(out_dir)
    return model


def logits(model, ids) -> np.ndarray:
    with torch.no_grad():
        return model(torch.tensor([list(ids)])).logits[0].float().numpy()


def prompt(n: int, vocab: int, seed: int = 1) -> list[int]:
    return np.random.default_rng(seed).integers(0, vocab, size=n).tolist()


def rel_err(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a - b).max() / np.abs(b).max())
