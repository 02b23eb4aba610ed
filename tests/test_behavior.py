"""GT-030a: greedy continuations of the quantized path agree with the F32 reference on the
versioned prompt set (tests/fixtures/behavior/prompts_v1.json), and diverging prompts are flagged.

The model here is a tiny GPT-OSS with random weights whose experts are MXFP4 values, as every
real GPT-OSS checkpoint's are; it is converted twice, MXFP4 experts and F32 experts. Random
weights say nothing about behaviour (no refusals, no facts): this measures numerical agreement.
On the CPU both files compute the same values, so every prompt must agree;
tests/cuda/test_validate_cuda.py holds the CUDA kernels and the real Gemma 3 file to the bar.
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from runtime.ggml_types import GGMLType
from runtime.plugins import registry
from runtime.validate import compare_models, format_report, load_prompts

PROMPTS = Path(__file__).parent / "fixtures" / "behavior" / "prompts_v1.json"
FIRST_N = 8
#: Fraction of prompts whose first FIRST_N greedy tokens must agree.
CPU_THRESHOLD = 1.0


def mxfp4_native_checkpoint(out_dir: Path, seed: int = 0) -> Path:
    """A tiny HF gpt_oss checkpoint (2 layers) whose float expert weights are exactly MXFP4
    values (quantized then dequantized along the input dimension, the GGUF block axis)."""
    sys.path.insert(0, str(Path(__file__).parent))
    import hf_tiny
    import torch

    fmt = registry().quant_format(GGMLType.MXFP4)
    model = hf_tiny.build("gpt_oss", out_dir, seed=seed, num_hidden_layers=2,
                          layer_types=["sliding_attention", "full_attention"])
    with torch.no_grad():
        for layer in model.model.layers:
            for param in (layer.mlp.experts.gate_up_proj, layer.mlp.experts.down_proj):  # [E, in, out]
                rows = param.detach().numpy().transpose(0, 2, 1)
                exact = fmt.dequantize(fmt.quantize(np.ascontiguousarray(rows)))
                param.copy_(torch.from_numpy(np.ascontiguousarray(exact.transpose(0, 2, 1))))
    model.save_pretrained(out_dir)
    return out_dir


def converted_pair(tmp: Path) -> tuple[Path, Path]:
    """(MXFP4-expert GGUF, F32-expert GGUF) of the same MXFP4-native checkpoint."""
    from plugins.gpt.convert import convert_hf

    hf = mxfp4_native_checkpoint(tmp / "hf")
    return convert_hf(hf, tmp / "mxfp4.gguf", expert_type="mxfp4"), convert_hf(hf, tmp / "f32.gguf", expert_type="f32")


def agreement(report) -> float:
    return float(np.mean([p.greedy.tested[:FIRST_N] == p.greedy.reference[:FIRST_N] for p in report.prompts]))


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    import runtime

    mxfp4, f32 = converted_pair(tmp_path_factory.mktemp("behavior"))
    return runtime.load(mxfp4, device="cpu"), runtime.load(f32, device="cpu")


def test_greedy_continuations_agree_on_cpu(pair):
    tested, reference = pair
    assert tested.info.quantization.get("MXFP4") and not reference.info.quantization.get("MXFP4")
    report = compare_models(tested, reference, load_prompts(PROMPTS), n_generate=FIRST_N)
    assert agreement(report) >= CPU_THRESHOLD, format_report(report)
    assert report.diverging == [] and report.greedy_agreement == 1.0


def test_diverging_prompts_are_flagged(pair, tmp_path):
    """A model of other weights must diverge, and the report must name the prompts."""
    import runtime
    from plugins.gpt.convert import convert_hf

    other = runtime.load(convert_hf(mxfp4_native_checkpoint(tmp_path / "hf", seed=7), tmp_path / "o.gguf"),
                         device="cpu")
    report = compare_models(pair[0], other, load_prompts(PROMPTS), n_generate=FIRST_N)
    assert agreement(report) < CPU_THRESHOLD
    flagged = {p.id for p in report.diverging}
    assert flagged and flagged == {p.id for p in report.prompts if p.greedy.tested != p.greedy.reference}
    text = format_report(report)
    assert all(f"DIVERGES {i}" in text for i in flagged)
