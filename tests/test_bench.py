"""`plugrt bench` on the CPU backend: the report's shape and that every number is a real rate."""
import json
import subprocess
import sys

import pytest

from runtime.bench import run_bench
from runtime.plugins import registry
from runtime.synth import write_synthetic


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return write_synthetic(registry().synthetic_preset("gpt2-tiny"), tmp_path_factory.mktemp("b") / "g.gguf")


def test_bench_measures_every_prompt_length_and_depth(tiny):
    report = run_bench(tiny, prompts=[16, 32], n_gen=4, depths=[0, 8], repetitions=2, device="cpu")
    assert [m.test for m in report.results] == ["pp16", "pp32", "tg4", "tg4@d8"]
    for m in report.results:
        assert len(m.tokens_per_s) == 2 and all(r > 0 for r in m.tokens_per_s)
        assert m.avg_ts == pytest.approx(sum(m.tokens_per_s) / 2)
    assert report.backend == "cpu" and report.peak_device_bytes is None and report.ttft_ms > 0


def test_bench_cli_json(tiny):
    r = subprocess.run([sys.executable, "-m", "runtime", "bench", str(tiny), "-p", "8", "-n", "2", "-r", "1",
                        "--device", "cpu", "--json"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    assert {m["test"] for m in data["results"]} == {"pp8", "tg2"}
    assert data["load_s"] > 0


@pytest.mark.parametrize("has_output", [True, False], ids=["own-lm-head", "tied-embedding"])
def test_decode_weight_bytes_counts_used_experts_and_one_embedding_row(tmp_path, has_output):
    from gguf.constants import GGUFValueType as V
    from gguf_factory import GGUFBuilder

    from runtime.bench import decode_weight_bytes
    from runtime.ggml_types import GGMLType
    from runtime.gguf.reader import open_gguf

    b = (GGUFBuilder().kv("general.architecture", V.STRING, "moe").kv("moe.expert_count", V.UINT32, 8)
         .kv("moe.expert_used_count", V.UINT32, 2)
         .tensor("token_embd.weight", (4, 10), GGMLType.F32)          # 10 rows of 16 bytes
         .tensor("blk.0.ffn_up_exps.weight", (4, 3, 8), GGMLType.F32)  # 8 experts of 48 bytes
         .tensor("blk.0.attn_q.weight", (4, 4), GGMLType.F32))         # 64 bytes
    if has_output:
        b.tensor("output.weight", (4, 10), GGMLType.F32)
    with open_gguf(b.build().write(tmp_path / "m.gguf")) as gguf:
        got = decode_weight_bytes(gguf)
    assert got == (16 + 160 if has_output else 160) + 2 * 48 + 64
