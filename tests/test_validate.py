"""``runtime.validate`` / ``plugrt validate``: the metrics, the prompt sets, the command, and
GT-038's 1% bar on a tiny GPT-OSS converted with MXFP4 experts."""
from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import numpy as np
import pytest

from runtime.cli import main
from runtime.errors import ConfigError
from runtime.plugins import registry
from runtime.synth import write_synthetic
from runtime.validate import load_prompts, logit_metrics, write_dequantized

FIXTURE = Path(__file__).parent / "fixtures" / "behavior" / "prompts_v1.json"


def test_identical_logits_give_zero_error_and_full_agreement():
    x = np.random.default_rng(0).standard_normal((3, 50)).astype(np.float32)
    m = logit_metrics(x, x.copy())
    assert m.rel_err == [0.0] * 3 and max(m.kl) < 1e-12
    assert all(m.top1) and m.top5_overlap == [1.0] * 3


def test_metrics_match_hand_computed_values():
    ref = np.array([[0.0, math.log(3.0), -50, -50, -50, -50]])  # p ~ (1/4, 3/4)
    tested = np.array([[math.log(3.0), 0.0, -50, -50, -50, -50]])  # q ~ (3/4, 1/4)
    m = logit_metrics(tested, ref)
    want_kl = 0.25 * math.log(0.25 / 0.75) + 0.75 * math.log(0.75 / 0.25)
    assert m.kl[0] == pytest.approx(want_kl, rel=1e-6)
    assert m.top1 == [False]
    assert m.rel_err[0] == pytest.approx(np.linalg.norm(tested - ref) / np.linalg.norm(ref))
    # top-5 of 6 tokens: {0, 1} plus three of the tied -50s chosen alike in both
    assert m.top5_overlap[0] >= 0.4


def test_top5_overlap_counts_shared_tokens():
    ref = np.arange(10, dtype=np.float32)[None]  # top-5: 5..9
    tested = ref.copy()
    tested[0, [9, 8]] = -1.0  # top-5: 3..7
    assert logit_metrics(tested, ref).top5_overlap == [pytest.approx(0.6)]


def test_prompt_files(tmp_path):
    fixture = load_prompts(FIXTURE)
    assert fixture.version == "behavior-v1" and len(fixture.prompts) == 12
    assert {p.category for p in fixture.prompts} == {"code", "refusal", "factual"}
    assert len({p.id for p in fixture.prompts}) == 12
    plain = tmp_path / "p.json"
    plain.write_text(json.dumps(["a", "b"]))
    assert [p.text for p in load_prompts(plain).prompts] == ["a", "b"]
    plain.write_text(json.dumps({"prompts": [{"text": "no id"}]}))
    with pytest.raises(ConfigError, match="not a prompt set"):
        load_prompts(plain)
    with pytest.raises(ConfigError, match="cannot read"):
        load_prompts(tmp_path / "missing.json")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("validate")
    return write_synthetic(registry().synthetic_preset("gpt-oss-tiny"), out / "tiny.gguf", seed=0)


def _validate_json(capsys, *argv) -> dict:
    assert main(["validate", *argv, "--device", "cpu", "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_cli_validate_cpu_against_itself_and_its_dequantized_copy(tiny, tmp_path, capsys):
    """On the CPU backend the stored path computes exactly the dequantized-F32 math."""
    report = _validate_json(capsys, str(tiny), "--generate", "3")
    assert report["reference"] == "f32" and report["device"] == "cpu"
    assert report["rel_err"]["max"] == 0.0 and report["top1_agreement"] == 1.0
    assert all(p["greedy"]["tested"] == p["greedy"]["reference"] for p in report["prompts"])
    copy = write_dequantized(tiny, tmp_path / "f32.gguf")
    report = _validate_json(capsys, str(tiny), "--reference", str(copy))
    assert report["rel_err"]["max"] == 0.0 and report["kl_divergence"]["max"] == 0.0


def test_cli_validate_detects_a_different_model(tiny, tmp_path, capsys):
    other = write_synthetic(registry().synthetic_preset("gpt-oss-tiny"), tmp_path / "other.gguf", seed=1)
    assert main(["validate", str(tiny), "--reference", str(other), "--device", "cpu", "--generate", "3"]) == 0
    text = capsys.readouterr().out
    assert "top-1 agreement" in text and "DIVERGES" in text
    report = _validate_json(capsys, str(tiny), "--reference", str(other))
    assert report["rel_err"]["mean"] > 0.5 and report["kl_divergence"]["mean"] > 0.0


# -- GT-038 on a tiny GPT-OSS converted from a Hugging Face checkpoint ---------------------------------
@pytest.fixture(scope="module")
def tiny_hf_ggufs(tmp_path_factory) -> dict[str, Path]:
    sys.path.insert(0, str(Path(__file__).parent))
    import hf_tiny
    from plugins.gpt.convert import convert_hf

    out = tmp_path_factory.mktemp("hf")
    hf_tiny.build("gpt_oss", out / "hf", num_hidden_layers=2, layer_types=["sliding_attention", "full_attention"])
    files = {kind: convert_hf(out / "hf", out / f"{kind}.gguf", expert_type=kind) for kind in ("mxfp4", "f32")}
    files["dequantized"] = write_dequantized(files["mxfp4"], out / "dequantized.gguf")
    return files


def test_tiny_gpt_oss_mxfp4_within_1_percent_of_dequantized_f32(tiny_hf_ggufs):
    import runtime
    from runtime.validate import compare_models, load_prompts

    tested = runtime.load(tiny_hf_ggufs["mxfp4"], device="cpu")
    reference = runtime.load(tiny_hf_ggufs["dequantized"], device="cpu")
    assert reference.info.quantization == {"F32": sum(tested.info.quantization.values())}
    report = compare_models(tested, reference, load_prompts(FIXTURE))
    assert report.rel_err.max < 0.01 and report.top1_agreement == 1.0


def test_tiny_gpt_oss_quantization_error_against_its_f32_checkpoint(tiny_hf_ggufs):
    """MXFP4 experts vs the same float checkpoint in F32: quantization error itself. Random weights
    are ~11% off per matrix in MXFP4; these bands catch a broken quantizer (e.g. a wrong scale),
    they are not a quality claim."""
    import runtime
    from runtime.validate import compare_models, load_prompts

    tested = runtime.load(tiny_hf_ggufs["mxfp4"], device="cpu")
    reference = runtime.load(tiny_hf_ggufs["f32"], device="cpu")
    report = compare_models(tested, reference, load_prompts(FIXTURE))
    assert 0.05 < report.rel_err.mean < 0.6
    assert report.kl_divergence.mean < 0.1
    assert report.top1_agreement > 0.4
