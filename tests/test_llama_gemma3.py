"""Gemma 3 270M Q4_K_M (the default model) on the CPU backend against llama.cpp's greedy decoding."""
from __future__ import annotations

import pytest

import llama_reference as ref

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def gemma():
    return ref.gemma_runner("cpu")


def test_enough_stable_prompts_of_each_kind():
    stable = ref.stable_cases()
    assert len(stable) >= ref.MIN_STABLE_PROMPTS
    assert {c["kind"] for c in stable} == {"en", "code", "multilingual"}


def test_prompt_tokens_match_llamacpp(gemma):
    from runtime.tokenizer import tokenizer_from_gguf

    tokenizer = tokenizer_from_gguf(gemma[0].metadata)
    for case in ref.cases():
        assert tokenizer.encode(case["prompt"], parse_special=False) == case["prompt_ids"], case["prompt"]


@pytest.mark.parametrize("case", ref.cases(), ids=lambda c: c["prompt"][:24])
def test_every_step_agrees_with_llamacpp(gemma, case):
    ref.check_teacher_forced(gemma[1], case)


@pytest.mark.parametrize("case", ref.stable_cases(), ids=lambda c: c["prompt"][:24])
def test_greedy_continuation_equals_llamacpp(gemma, case):
    assert ref.greedy(gemma[1], case["prompt_ids"], len(case["greedy_ids"])) == case["greedy_ids"]


def test_generate_without_a_model_uses_the_default(capsys):
    """The README's main command: no model named, the plugin's default model continues the prompt
    the way llama.cpp does."""
    import json

    from runtime.cli import main

    case = ref.stable_cases()[0]
    assert main(["generate", "-p", case["prompt"], "-n", "8", "--temperature", "0", "--device", "cpu",
                 "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["tokens"] == 8 and out["finish_reason"] == "length"
    assert case["text"].startswith(out["text"])
