"""Render a GGUF ``tokenizer.chat_template`` (Jinja2) the way HF ``apply_chat_template`` does.

Same environment as transformers: a sandbox, ``trim_blocks`` and ``lstrip_blocks``, loop controls,
the ``{% generation %}`` block, ``raise_exception``, ``strftime_now``, a ``tojson`` that keeps
non-ASCII text and takes ``indent``, and the tokenizer's special tokens (``bos_token``, ``eos_token``...)
as variables.
"""
from __future__ import annotations

import datetime as _dt
import json
from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Any

import jinja2
from jinja2 import nodes
from jinja2.ext import Extension, loopcontrols
from jinja2.sandbox import ImmutableSandboxedEnvironment

from runtime.errors import ChatTemplateError


class _GenerationBlock(Extension):
    """``{% generation %}...{% endgeneration %}`` (HF marks assistant spans with it); renders its body."""

    tags = {"generation"}

    def parse(self, parser):
        lineno = next(parser.stream).lineno
        body = parser.parse_statements(("name:endgeneration",), drop_needle=True)
        return nodes.CallBlock(self.call_method("_render_body"), [], [], body).set_lineno(lineno)

    def _render_body(self, caller):
        return caller()


def _raise_exception(message: str):
    raise ChatTemplateError(f"chat template refused the messages: {message}")


def _strftime_now(fmt: str) -> str:
    return _dt.datetime.now().strftime(fmt)


def _tojson(value: Any, ensure_ascii: bool = False, indent: int | None = None,
            separators: tuple[str, str] | None = None, sort_keys: bool = False) -> str:
    # Jinja's own tojson escapes HTML characters and sorts keys; chat templates expect plain JSON.
    return json.dumps(value, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)


@lru_cache(maxsize=16)
def _compile(source: str) -> jinja2.Template:
    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True,
                                        extensions=[_GenerationBlock, loopcontrols])
    env.filters["tojson"] = _tojson
    env.globals["raise_exception"] = _raise_exception
    env.globals["strftime_now"] = _strftime_now
    try:
        return env.from_string(source)
    except jinja2.TemplateSyntaxError as e:
        raise ChatTemplateError(f"chat template does not parse (line {e.lineno}): {e.message}") from e


class ChatTemplate:
    """A compiled chat template plus the special-token strings it may refer to."""

    def __init__(self, source: str, *, special_tokens: Mapping[str, str] | None = None):
        if not source:
            raise ChatTemplateError("the model has no chat template (tokenizer.chat_template is empty)")
        self.source = source
        self.special_tokens = dict(special_tokens or {})
        self._template = _compile(source)

    def render(self, messages: Sequence[Mapping[str, Any]], *, add_generation_prompt: bool = True,
               tools: Sequence[Mapping[str, Any]] | None = None, **variables: Any) -> str:
        """The prompt text for ``messages`` (dicts with ``role`` and ``content``).

        Extra keyword arguments become template variables, as in ``apply_chat_template(**kwargs)``.
        """
        for i, message in enumerate(messages):
            if "role" not in message:
                raise ChatTemplateError(f"message {i} has no 'role': {dict(message)!r}")
        context = {**self.special_tokens, **variables}
        try:
            return self._template.render(messages=[dict(m) for m in messages], tools=tools,
                                         add_generation_prompt=add_generation_prompt, **context)
        except jinja2.TemplateError as e:
            raise ChatTemplateError(f"chat template failed to render: {e}") from e
