"""Synthetic presets, `plugrt inspect` and the CLI around them."""
import json
import subprocess
import sys
from collections import Counter

import numpy as np
import pytest

from runtime.detect import detect
from runtime.ggml_types import GGMLType
from runtime.gguf import open_gguf
from runtime.inspection import inspect_file
from runtime.plugins import registry
from runtime.synth import full_metadata, tensor_specs, write_synthetic

TINY_PRESETS = ["gpt-oss-tiny", "gpt2-tiny"]


@pytest.fixture(scope="module")
def tiny_files(tmp_path_factory):
    out = tmp_path_factory.mktemp("synth")
    reg = registry()
    return {name: write_synthetic(reg.synthetic_preset(name), out / f"{name}.gguf", seed=7) for name in TINY_PRESETS}


@pytest.mark.parametrize("name", TINY_PRESETS)
def test_synthetic_file_holds_what_its_adapter_reads(tiny_files, name):
    with open_gguf(tiny_files[name]) as g:
        adapter = detect(g)
        config = adapter.config(g.metadata)
        adapter.check_weights(g, config)
        reg = registry()
        for t in g.tensors.values():
            values = reg.quant_format(t.ggml_type).dequantize(g.raw(t.name).reshape(t.shape[:-1] + (-1,)))
            assert values.shape == t.shape
            assert np.isfinite(values).all(), t.name
            assert np.abs(values).max() < 10, t.name


def test_same_seed_same_bytes_other_seed_other_bytes(tiny_files, tmp_path):
    preset = registry().synthetic_preset("gpt-oss-tiny")
    again = write_synthetic(preset, tmp_path / "again.gguf", seed=7)
    other = write_synthetic(preset, tmp_path / "other.gguf", seed=8)
    assert again.read_bytes() == tiny_files["gpt-oss-tiny"].read_bytes()
    assert other.read_bytes() != again.read_bytes()


def test_gpt_oss_20b_preset_has_the_real_shapes_and_recipe():
    preset = registry().synthetic_preset("gpt-oss-20b")
    specs = tensor_specs(preset, full_metadata(preset, 0), seed=0)
    by_name = {s.name: s for s in specs}
    assert by_name["token_embd.weight"].shape == (201088, 2880)
    assert by_name["blk.0.ffn_gate_exps.weight"].shape == (32, 2880, 2880)
    assert by_name["blk.0.ffn_down_exps.weight"].ggml_type == GGMLType.MXFP4
    assert by_name["blk.0.attn_q.weight"].ggml_type == GGMLType.Q8_0
    assert by_name["output.weight"].ggml_type == GGMLType.Q8_0
    assert by_name["blk.0.attn_sinks.weight"].ggml_type == GGMLType.F32
    assert Counter(s.ggml_type for s in specs)[GGMLType.MXFP4] == 24 * 3
    total = sum(s.nbytes for s in specs)
    assert 11.0 * 2**30 < total < 13.0 * 2**30


def test_gpt_oss_20b_q4km_preset_uses_the_fallbacks_for_2880_wide_rows():
    preset = registry().synthetic_preset("gpt-oss-20b-q4km")
    specs = {s.name: s.ggml_type for s in tensor_specs(preset, full_metadata(preset, 0), seed=0)}
    assert specs["blk.0.ffn_gate_exps.weight"] == GGMLType.Q5_0   # 2880 columns: Q4_K's fall-back
    assert specs["blk.0.attn_q.weight"] == GGMLType.Q5_0
    assert specs["blk.0.attn_output.weight"] == GGMLType.Q4_K     # 4096 columns
    assert specs["token_embd.weight"] == GGMLType.Q8_0             # Q6_K's fall-back
    assert specs["output.weight"] == GGMLType.Q8_0


def test_inspect_report_counts_match_the_file(tiny_files):
    path = tiny_files["gpt-oss-tiny"]
    report = inspect_file(path, compute_hash=True)
    with open_gguf(path) as g:
        tensors = list(g.tensors.values())
    assert report.architecture == "gpt-oss" and report.plugin == "gpt"
    assert report.tensor_count == len(tensors)
    assert sum(u.count for u in report.types.values()) == len(tensors)
    assert report.types["MXFP4"].count == 2 * 3
    assert sum(u.bytes for u in report.types.values()) == sum(t.nbytes for t in tensors)
    assert report.n_params == sum(t.n_elements for t in tensors)
    assert report.file_size == path.stat().st_size
    assert report.config["n_layers"] == 2
    assert len(report.sha256) == 64


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "runtime", *args], capture_output=True, text=True, timeout=120)


def test_cli_inspect_json_has_the_documented_keys(tiny_files):
    r = _cli("inspect", str(tiny_files["gpt2-tiny"]), "--json")
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    assert set(data) == {"architecture", "plugin", "config", "tensor_count", "types", "n_params", "file_size", "sha256"}
    assert data["sha256"] is None and data["architecture"] == "gpt2"


def test_cli_reports_bad_files_as_errors_not_tracebacks(tmp_path):
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(b"GGUF" + b"\xff" * 40)
    r = _cli("inspect", str(bad))
    assert r.returncode == 2
    assert "plugrt: error:" in r.stderr and "Traceback" not in r.stderr


def test_cli_plugins_lists_architectures_types_and_presets():
    r = _cli("plugins", "--json")
    data = json.loads(r.stdout)
    assert data["architectures"]["gpt-oss"] == "gpt"
    assert data["quant_types"]["MXFP4"] == "quant_mxfp4"
    assert data["quant_types"]["Q4_K"] == "quant_q4km"
    assert "gpt-oss-20b" in data["synthetic_presets"]


def test_cli_synth_unknown_preset_is_a_clear_error(tmp_path):
    r = _cli("synth", "nope", "-o", str(tmp_path / "x.gguf"))
    assert r.returncode == 2 and "unknown synthetic preset 'nope'" in r.stderr
