"""How the runner cuts a prompt into forward calls: up to MAX_TOKENS_PER_CALL tokens where only the
last position's logits are wanted, up to MAX_LOGIT_ROWS_PER_CALL where every position's are."""
import numpy as np
import pytest

from decode_helpers import build_runner
from runtime.backend.cpu import CpuBackend
from runtime.plugins import registry
from runtime.runner import MAX_LOGIT_ROWS_PER_CALL, MAX_TOKENS_PER_CALL
from runtime.synth import write_synthetic

PROMPT = MAX_TOKENS_PER_CALL + 52


@pytest.fixture(scope="module")
def chunk_log(tmp_path_factory):
    """A gpt-oss-tiny runner whose forward calls are logged as (tokens, logits wanted)."""
    path = write_synthetic(registry().synthetic_preset("gpt-oss-tiny"),
                           tmp_path_factory.mktemp("chunks") / "tiny.gguf", seed=5)
    runner = build_runner(path, CpuBackend(), max_context=PROMPT)
    calls = []
    forward_chunk = runner._forward_chunk

    def logged(ids, positions, want):
        calls.append((ids.shape[0], want))
        return forward_chunk(ids, positions, want)

    runner._forward_chunk = logged
    return runner, calls


def test_a_prompt_for_its_last_logits_runs_in_the_largest_chunks(chunk_log):
    runner, calls = chunk_log
    runner.reset(), calls.clear()
    last = runner.forward(np.arange(PROMPT) % 200, logits_for="last")
    assert calls == [(MAX_TOKENS_PER_CALL, "none"), (PROMPT - MAX_TOKENS_PER_CALL, "last")]
    assert last.shape == (1, runner.vocab_size)


def test_every_positions_logits_come_in_calls_of_at_most_the_logit_rows(chunk_log):
    runner, calls = chunk_log
    n = 2 * MAX_LOGIT_ROWS_PER_CALL + 76
    runner.reset(), calls.clear()
    logits = runner.forward(np.arange(n) % 200)
    assert calls == [(MAX_LOGIT_ROWS_PER_CALL, "all")] * 2 + [(76, "all")]
    assert logits.shape == (n, runner.vocab_size)
    runner.reset()
    last = runner.forward(np.arange(n) % 200, logits_for="last")
    np.testing.assert_allclose(last[0], logits[-1], rtol=1e-4, atol=1e-4 * np.abs(logits[-1]).max())
