"""The decode loop and the Model API, on test fakes (a random bigram runner, scripted runners)."""
import numpy as np
import pytest

from engine_fakes import FakeBigramRunner, FakeScriptedRunner, fake_byte_tokenizer
from runtime.engine import SamplingParams, generate, stream
from runtime.errors import GenerationError
from runtime.model import Model, ModelInfo


@pytest.fixture
def tok():
    return fake_byte_tokenizer()


def make_model(runner, tokenizer, architecture="gpt2"):
    info = ModelInfo(architecture=architecture, plugin="fake", context_length=runner.context_length)
    return Model(runner, tokenizer, info, "cpu")


def script_for(tok, *pieces: str) -> list[int]:
    """Token ids whose decoded texts are ``pieces`` (each piece encoded on its own)."""
    return [i for piece in pieces for i in tok.encode(piece, add_special=False)]


def test_same_seed_same_text(tok):
    model = make_model(FakeBigramRunner(tok.info.vocab_size, seed=1), tok)
    a = model.generate("hello", max_tokens=30, seed=42)
    b = model.generate("hello", max_tokens=30, seed=42)
    c = model.generate("hello", max_tokens=30, seed=43)
    assert a.token_ids == b.token_ids and a.text == b.text
    assert a.token_ids != c.token_ids


def test_temperature_zero_equals_argmax_decoding(tok):
    runner = FakeBigramRunner(tok.info.vocab_size, seed=2)
    prompt = tok.encode("hello")
    expected, last = [], prompt[-1]
    for _ in range(25):
        last = int(np.argmax(runner.table[last]))
        expected.append(last)
        if last in (tok.info.eos_id, tok.info.eot_id):
            break
    out = make_model(runner, tok).generate(prompt, max_tokens=25, temperature=0)
    assert out.token_ids == expected


class LogitsOnly:
    """Hides a runner's ``forward_greedy``, like a plugin's runner that has none."""

    def __init__(self, runner):
        self.runner = runner
        self.vocab_size, self.context_length = runner.vocab_size, runner.context_length
        self.reset, self.forward = runner.reset, runner.forward


@pytest.mark.parametrize("penalty", [1.0, 1.3])
def test_greedy_takes_forward_greedy_when_there_is_one_and_no_penalty(tok, penalty, monkeypatch):
    runner = FakeBigramRunner(tok.info.vocab_size, seed=2)
    calls = []
    monkeypatch.setattr(runner, "forward_greedy", lambda ids: calls.append(ids) or FakeBigramRunner.forward_greedy(
        runner, ids))
    prompt = tok.encode("hello")
    out = make_model(runner, tok).generate(prompt, max_tokens=12, temperature=0, repetition_penalty=penalty)
    plain = make_model(LogitsOnly(FakeBigramRunner(tok.info.vocab_size, seed=2)), tok).generate(
        prompt, max_tokens=12, temperature=0, repetition_penalty=penalty)
    assert out.token_ids == plain.token_ids
    assert len(calls) == (len(out.token_ids) if penalty == 1.0 else 0)


def test_prefill_once_then_one_token_per_step(tok):
    runner = FakeBigramRunner(tok.info.vocab_size, seed=3)
    prompt = tok.encode("hello world")
    out = generate(runner, tok, prompt, SamplingParams(max_tokens=5, seed=0))
    assert runner.resets == 1 and runner.calls[0] == prompt
    # every sampled token but the last is fed back, one per call
    assert [c for call in runner.calls[1:] for c in call] == out.token_ids[:-1]
    assert all(len(call) == 1 for call in runner.calls[1:])


def test_max_tokens_gives_length(tok):
    runner = FakeScriptedRunner(script_for(tok, "hello") * 10, tok.info.vocab_size)
    out = make_model(runner, tok).generate("x", max_tokens=4, temperature=0)
    assert out.finish_reason == "length" and len(out.token_ids) == 4 and out.prompt_tokens == 2


def test_end_of_text_gives_stop_and_no_text(tok):
    script = script_for(tok, "hello") + [tok.info.eos_id, *script_for(tok, "world")]
    out = make_model(FakeScriptedRunner(script, tok.info.vocab_size), tok).generate("x", max_tokens=20,
                                                                                      temperature=0)
    assert out.finish_reason == "stop" and out.text == "hello"
    assert out.token_ids == script[:3] and out.token_ids[-1] == tok.info.eos_id


def test_stop_token_ids(tok):
    script = script_for(tok, "hello", " world")
    out = make_model(FakeScriptedRunner(script, tok.info.vocab_size), tok).generate(
        "x", max_tokens=20, temperature=0, stop_token_ids=[script[2]])
    assert out.finish_reason == "stop" and out.text == "hello" and out.token_ids == script[:3]


@pytest.mark.parametrize("stop, text", [("lo w", "hel"), ("o", "hell"), ("world", "hello "), ("hello", ""),
                                        (["xyz", "d!"], "hello worl")])
def test_stop_strings_cut_the_text_exactly(tok, stop, text):
    # "hello world!" arrives as he|ll|o|Ġwor|ld|! : the stop strings span token boundaries
    script = script_for(tok, "hello world!") + script_for(tok, " more text") * 3
    model = make_model(FakeScriptedRunner(script, tok.info.vocab_size), tok)
    s = model.stream("x", max_tokens=40, temperature=0, stop=stop)
    chunks = list(s)
    out = s.result()
    assert out.text == text and out.finish_reason == "stop"
    assert "".join(c.text for c in chunks) == text
    assert [i for c in chunks for i in c.token_ids] == out.token_ids


def test_text_that_only_looks_like_a_stop_string_is_released_at_the_end(tok):
    script = script_for(tok, "hello wor")
    out = make_model(FakeScriptedRunner(script, tok.info.vocab_size), tok).generate(
        "x", max_tokens=len(script), temperature=0, stop="world")
    assert out.finish_reason == "length" and out.text == "hello wor"


def test_streaming_holds_back_a_possible_stop_string(tok):
    script = script_for(tok, "hello", " wor", "ld")
    s = make_model(FakeScriptedRunner(script, tok.info.vocab_size), tok).stream(
        "x", max_tokens=len(script), temperature=0, stop="or!")
    texts = [c.text for c in s]
    # tokens hell|o|Ġwor|ld: "o" and then "or" wait a token each, since they could begin "or!"
    assert texts == ["hell", "", "o w", "orld"]
    assert "".join(texts) == "hello world" and s.result().finish_reason == "length"


def test_utf8_split_across_tokens_is_streamed_whole(tok):
    script = script_for(tok, "é€")  # five byte tokens
    s = make_model(FakeScriptedRunner(script, tok.info.vocab_size), tok).stream(
        "x", max_tokens=len(script), temperature=0)
    texts = [c.text for c in s]
    assert texts == ["", "é", "", "", "€"]


def test_context_length_bounds_generation(tok):
    runner = FakeBigramRunner(tok.info.vocab_size, seed=4, context_length=8)
    prompt = tok.encode("hello")  # 3 tokens
    out = generate(runner, tok, prompt, SamplingParams(max_tokens=100, seed=1))
    if out.finish_reason == "length":
        assert len(out.token_ids) == 8 - 3 + 1
    with pytest.raises(GenerationError):
        generate(runner, tok, list(range(9)), SamplingParams())


def test_empty_prompt_and_zero_tokens(tok):
    runner = FakeBigramRunner(tok.info.vocab_size)
    with pytest.raises(GenerationError):
        stream(runner, tok, [], SamplingParams())
    out = generate(runner, tok, [1, 2], SamplingParams(max_tokens=0))
    assert out.token_ids == [] and out.finish_reason == "length" and runner.calls == []


def test_timings_are_filled(tok):
    model = make_model(FakeBigramRunner(tok.info.vocab_size), tok)
    model.info.load_s = 1.5
    out = model.generate("hello", max_tokens=5, seed=0)
    t = out.timings
    assert t.load_s == 1.5 and t.ttft_ms > 0 and t.prompt_tokens_per_s > 0
    assert set(out.model_dump()) == {"text", "token_ids", "prompt_tokens", "finish_reason", "timings"}
    assert set(t.model_dump()) == {"load_s", "ttft_ms", "prompt_tokens_per_s", "tokens_per_s"}


def test_logits_resets_and_returns_every_position(tok):
    runner = FakeBigramRunner(tok.info.vocab_size, seed=5)
    model = make_model(runner, tok)
    model.logits([1, 2])
    out = model.logits([3, 4, 5])
    assert out.dtype == np.float32 and out.shape == (3, tok.info.vocab_size)
    np.testing.assert_array_equal(out, runner.table[[3, 4, 5]])
    assert runner.resets == 2
    with pytest.raises(GenerationError):
        model.logits([])


def test_params_object_and_keyword_overrides(tok):
    model = make_model(FakeBigramRunner(tok.info.vocab_size, seed=6), tok)
    base = SamplingParams(max_tokens=3, temperature=0)
    assert len(model.generate("hello", params=base).token_ids) <= 3
    assert len(model.generate("hello", params=base, max_tokens=1).token_ids) == 1
