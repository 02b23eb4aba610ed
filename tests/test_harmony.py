"""GPT-OSS harmony format against fixtures written from OpenAI's published format and token ids."""
import json

import pytest

from engine_fakes import HARMONY_FIXTURES, FakeScriptedRunner, fake_o200k_piece_tokenizer
from runtime.chat import harmony
from runtime.errors import ChatTemplateError
from runtime.model import Model, ModelInfo

RENDER_CASES = ["system_user_assistant", "user_generation_prompt", "drops_earlier_analysis"]
REPLY = json.loads((HARMONY_FIXTURES / "reply_analysis_final.json").read_text())
PUBLISHED_SPECIAL_IDS = {"<|return|>": 200002, "<|constrain|>": 200003, "<|channel|>": 200005,
                         "<|start|>": 200006, "<|end|>": 200007, "<|message|>": 200008, "<|call|>": 200012}


def load_case(name: str) -> dict:
    return json.loads((HARMONY_FIXTURES / f"{name}.json").read_text())


def render_case(case: dict) -> str:
    return harmony.render(case["messages"], reasoning_effort=case["reasoning_effort"],
                          current_date=case["current_date"], add_generation_prompt=case["add_generation_prompt"])


@pytest.mark.parametrize("name", RENDER_CASES)
def test_render_matches_the_published_format_exactly(name):
    case = load_case(name)
    assert render_case(case) == case["text"]


@pytest.mark.parametrize("name", RENDER_CASES)
def test_rendered_prompt_encodes_to_the_published_token_ids(name):
    case = load_case(name)
    tok = fake_o200k_piece_tokenizer()
    assert tok.encode(render_case(case), add_special=False, parse_special=True) == case["token_ids"]


def test_every_harmony_special_token_is_one_id():
    tok = fake_o200k_piece_tokenizer()
    for token, published in PUBLISHED_SPECIAL_IDS.items():
        assert token in harmony.SPECIAL_TOKENS
        assert tok.encode(token, add_special=False) == [published]


def test_system_message_options():
    text = harmony.system_message(reasoning_effort="high", current_date="2025-06-28")
    assert text == ("<|start|>system<|message|>You are ChatGPT, a large language model trained by OpenAI.\n"
                    "Knowledge cutoff: 2024-06\nCurrent date: 2025-06-28\n\nReasoning: high\n\n"
                    "# Valid channels: analysis, commentary, final. Channel must be included for every message."
                    "<|end|>")
    with pytest.raises(ChatTemplateError):
        harmony.system_message(reasoning_effort="max")


def test_unsupported_messages_are_refused():
    with pytest.raises(ChatTemplateError, match="role 'tool'"):
        harmony.render([{"role": "tool", "content": "{}"}])
    with pytest.raises(ChatTemplateError, match="special token"):
        harmony.render([{"role": "assistant", "content": "<|channel|>analysis<|message|>hm"}])


def test_parse_reply_splits_analysis_and_final():
    reply = harmony.parse_reply(REPLY["text"])
    assert [m.channel for m in reply.messages] == ["analysis", "final"]
    assert reply.analysis == REPLY["analysis"] and reply.final == REPLY["final"]
    assert all(m.role == "assistant" and m.complete for m in reply.messages)


def test_parse_reply_keeps_a_cut_off_message_and_tool_calls():
    cut = harmony.parse_reply("<|channel|>analysis<|message|>Thinking about")
    assert cut.analysis == "Thinking about" and not cut.messages[0].complete and cut.final == ""
    call = harmony.parse_reply("<|channel|>commentary to=functions.get_weather <|constrain|>json"
                               '<|message|>{"location": "Tokyo"}<|call|>')
    message = call.messages[0]
    assert (message.channel, message.recipient, message.content_type, message.content) == (
        "commentary", "functions.get_weather", "<|constrain|>json", '{"location": "Tokyo"}')


def test_model_chat_uses_harmony_for_gpt_oss():
    tok = fake_o200k_piece_tokenizer()
    runner = FakeScriptedRunner(REPLY["token_ids"] + [200006], tok.info.vocab_size)
    model = Model(runner, tok, ModelInfo(architecture="gpt-oss", plugin="fake", context_length=4096))
    case = load_case("user_generation_prompt")
    out = model.chat(case["messages"], temperature=0, max_tokens=100)
    assert out.analysis == REPLY["analysis"] and out.text == out.final == REPLY["final"]
    assert out.completion.finish_reason == "stop" and out.completion.token_ids == REPLY["token_ids"]
    # the prompt the model saw: the fixture's, with today's date line and the effort asked for
    prompt = tok.decode(runner.calls[0])
    assert prompt.startswith("<|start|>system<|message|>") and "Current date: " in prompt
    assert prompt.endswith(harmony.render(case["messages"])[len(harmony.system_message()):])
    model.chat(case["messages"], reasoning_effort="low", current_date="2024-06-06", temperature=0, max_tokens=1)
    assert tok.decode(runner.calls[0]) == harmony.render(case["messages"], reasoning_effort="low",
                                                         current_date="2024-06-06")


def test_model_chat_does_not_stop_at_the_end_of_the_analysis():
    tok = fake_o200k_piece_tokenizer()
    model = Model(FakeScriptedRunner(REPLY["token_ids"], tok.info.vocab_size), tok,
                  ModelInfo(architecture="gpt-oss", plugin="fake", context_length=4096))
    stream = model.chat_stream([{"role": "user", "content": "What is 2 + 2?"}], temperature=0, max_tokens=100)
    assert "".join(chunk.text for chunk in stream).startswith("<|channel|>analysis<|message|>User asks")
    assert stream.result().token_ids[-1] == PUBLISHED_SPECIAL_IDS["<|return|>"]
