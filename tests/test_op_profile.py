"""`plugrt profile` on the CPU backend: every op of the forward pass is attributed, by weight, and
the backend is left as it was."""
import json

import pytest

import runtime
from runtime.cli import main
from runtime.op_profile import OPS, profile_ops
from runtime.plugins import registry
from runtime.synth import write_synthetic


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return write_synthetic(registry().synthetic_preset("gpt-oss-tiny"), tmp_path_factory.mktemp("p") / "m.gguf")


def test_each_phase_attributes_its_ops_by_weight(tiny):
    model = runtime.load(tiny, device="cpu", context_length=128)
    prefill, decode = profile_ops(model, prompt_tokens=32, decode_steps=3)
    assert (prefill.tokens_per_call, prefill.calls, decode.tokens_per_call, decode.calls) == (32, 1, 1, 3)
    layers = model.runner.cfg.n_layers
    for phase in (prefill, decode):
        rows = {r.op: r for r in phase.rows}
        # gate, up and their SwiGLU as one op (the down projection is its own)
        assert rows["linear_experts_swiglu_oai ffn_gate_exps.weight (MXFP4)"].calls == layers
        assert rows["linear_experts ffn_down_exps.weight (MXFP4)"].calls == layers
        assert "swiglu_oai" not in rows
        assert rows["linear attn_qkv.weight (Q8_0)"].calls == layers  # q, k and v as one product
        assert rows["attention"].calls == layers
        # the experts' bias gathers (embedding inside linear_experts) count as part of linear_experts
        assert [op for op in rows if op.startswith("embedding")] == ["embedding token_embd.weight (Q8_0)"]
        assert all(r.ms >= 0 for r in phase.rows[:-1]) and phase.rows[-1].op == "outside the ops"
        assert sum(r.ms for r in phase.rows) == pytest.approx(phase.ms_per_call)
    assert model.runner._step is None and not set(OPS) & set(vars(model.runner.backend))


def test_profile_cli_json(tiny, capsys):
    assert main(["profile", str(tiny), "-p", "16", "-n", "2", "--device", "cpu", "-c", "64", "--json"]) == 0
    phases = json.loads(capsys.readouterr().out)
    assert [p["phase"] for p in phases] == ["prefill", "decode"]
