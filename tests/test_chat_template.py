"""GGUF chat templates rendered with HF apply_chat_template semantics, and Model.chat over them."""
import datetime as dt

import pytest

from engine_fakes import FakeScriptedRunner, fake_byte_tokenizer
from runtime.chat.template import ChatTemplate
from runtime.errors import ChatTemplateError
from runtime.model import Model, ModelInfo

CHATML = (
    "{{ bos_token }}"
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)
MESSAGES = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hello"}]


def test_chatml_with_generation_prompt_and_bos():
    out = ChatTemplate(CHATML, special_tokens={"bos_token": "<s>"}).render(MESSAGES)
    assert out == ("<s><|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nhello<|im_end|>\n"
                   "<|im_start|>assistant\n")
    assert not ChatTemplate(CHATML).render(MESSAGES, add_generation_prompt=False).endswith("assistant\n")


def test_trim_and_lstrip_blocks():
    template = "{% for m in messages %}\n    {% if m.role == 'user' %}\n[{{ m.content }}]\n    {% endif %}\n{% endfor %}"
    assert ChatTemplate(template).render(MESSAGES) == "[hello]\n"


def test_raise_exception_becomes_a_chat_template_error():
    template = "{% if messages[0].role == 'system' %}{{ raise_exception('no system role') }}{% endif %}"
    with pytest.raises(ChatTemplateError, match="no system role"):
        ChatTemplate(template).render(MESSAGES)


def test_strftime_now_and_extra_variables():
    out = ChatTemplate("{{ strftime_now('%Y-%m-%d') }} {{ reasoning_effort }}").render(
        MESSAGES, reasoning_effort="high")
    assert out == f"{dt.date.today().isoformat()} high"


def test_tojson_keeps_order_unicode_and_html_and_takes_indent():
    template = "{{ tools | tojson }}|{{ tools[0] | tojson(indent=2) }}"
    tools = [{"z": "<b>é</b>", "a": 1}]
    out = ChatTemplate(template).render(MESSAGES, tools=tools)
    assert out == '[{"z": "<b>é</b>", "a": 1}]|{\n  "z": "<b>é</b>",\n  "a": 1\n}'


def test_generation_block_and_loop_controls():
    template = ("{% for m in messages %}{% if loop.index > 1 %}{% break %}{% endif %}"
                "{% generation %}{{ m.content }}{% endgeneration %}{% endfor %}")
    assert ChatTemplate(template).render(MESSAGES) == "Be brief."


def test_sandbox_refuses_escapes_and_mutation():
    with pytest.raises(ChatTemplateError):
        ChatTemplate("{{ ''.__class__.__mro__[1].__subclasses__() }}").render(MESSAGES)
    with pytest.raises(ChatTemplateError):
        ChatTemplate("{{ messages.append({'role': 'x'}) }}").render(MESSAGES)


def test_syntax_errors_and_missing_templates_are_typed():
    with pytest.raises(ChatTemplateError, match="does not parse"):
        ChatTemplate("{% for m in messages %}")
    with pytest.raises(ChatTemplateError):
        ChatTemplate("")
    with pytest.raises(ChatTemplateError, match="role"):
        ChatTemplate(CHATML).render([{"content": "no role"}])


def test_matches_transformers_apply_chat_template():
    chat_utils = pytest.importorskip("transformers.utils.chat_template_utils")
    template = ("{%- for m in messages %}\n  {%- if m.role == 'system' %}{{ m.content | tojson }}\n"
                "  {%- else %}<{{ m.role }}>{{ m.content | trim }}</{{ m.role }}>\n  {%- endif %}\n"
                "{%- endfor %}\n{%- if add_generation_prompt %}<assistant>{% endif %}{{ eos_token }}")
    messages = MESSAGES + [{"role": "assistant", "content": "  hi there \n"}, {"role": "user", "content": "ünï"}]
    for add in (True, False):
        rendered, _ = chat_utils.render_jinja_template(conversations=[messages], chat_template=template,
                                                       add_generation_prompt=add, eos_token="</s>")
        expected = rendered[0]
        ours = ChatTemplate(template, special_tokens={"eos_token": "</s>"}).render(messages, add_generation_prompt=add)
        assert ours == expected


def test_model_chat_renders_the_gguf_template_and_stops_at_end_of_turn():
    tok = fake_byte_tokenizer(chat_template=CHATML)
    reply = tok.encode("hello world", add_special=False) + [tok.info.eot_id] + tok.encode("x", add_special=False)
    runner = FakeScriptedRunner(reply, tok.info.vocab_size)
    model = Model(runner, tok, ModelInfo(architecture="gpt2", plugin="fake", context_length=4096))
    out = model.chat(MESSAGES, temperature=0, max_tokens=20)
    assert out.text == out.final == "hello world" and out.analysis == ""
    assert out.completion.finish_reason == "stop"
    prompt = runner.calls[0]
    assert tok.decode(prompt) == ChatTemplate(CHATML, special_tokens={"bos_token": "<|endoftext|>"}).render(MESSAGES)
    assert prompt.count(tok.info.bos_id) == 1  # the template's BOS only, none added on encode
    assert prompt.count(tok.token_to_id("<|im_start|>")) == 3  # special tokens encode to single ids


def test_model_chat_without_a_template_is_a_typed_error():
    tok = fake_byte_tokenizer()
    model = Model(FakeScriptedRunner([0], tok.info.vocab_size), tok,
                  ModelInfo(architecture="gpt2", plugin="fake", context_length=64))
    with pytest.raises(ChatTemplateError, match="no tokenizer.chat_template"):
        model.chat(MESSAGES)
