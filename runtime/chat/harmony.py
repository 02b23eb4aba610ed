"""GPT-OSS "harmony" chat format (openai/harmony, docs/format.md), rendered as text.

A message is ``<|start|>{header}<|message|>{content}<|end|>``. The prompt opens with the system
message (identity, knowledge cutoff, date, reasoning effort, valid channels); a leading ``system`` or
``developer`` chat message becomes the developer message ``# Instructions\\n\\n{text}``; earlier
assistant turns keep only their ``final`` text (their analysis is dropped, as the spec asks when a turn
ended in ``final``); the generation prompt is ``<|start|>assistant``. The model then writes
``<|channel|>analysis<|message|>...<|end|><|start|>assistant<|channel|>final<|message|>...<|return|>``.

This follows OpenAI's renderer, which differs from the HF ``chat_template.jinja`` of gpt-oss in two
details: no blank line after the developer instructions, and the date line only when a date is given.
"""
from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from pydantic import BaseModel

from runtime.errors import ChatTemplateError

START, END, MESSAGE, CHANNEL = "<|start|>", "<|end|>", "<|message|>", "<|channel|>"
RETURN, CALL, CONSTRAIN = "<|return|>", "<|call|>", "<|constrain|>"
#: Special tokens a tokenizer must map to single ids for harmony to work.
SPECIAL_TOKENS = (START, END, MESSAGE, CHANNEL, RETURN, CALL, CONSTRAIN)
#: Tokens that end an assistant's sampling: done (``<|return|>``) or a tool call (``<|call|>``).
#: ``<|end|>`` only closes one message (e.g. the analysis) and the model goes on.
STOP_TOKENS = (RETURN, CALL)

MODEL_IDENTITY = "You are ChatGPT, a large language model trained by OpenAI."
KNOWLEDGE_CUTOFF = "2024-06"
CHANNELS = ("analysis", "commentary", "final")

ReasoningEffort = Literal["low", "medium", "high"]


def system_message(*, reasoning_effort: ReasoningEffort = "medium", current_date: str | None = None,
                   knowledge_cutoff: str = KNOWLEDGE_CUTOFF, model_identity: str = MODEL_IDENTITY) -> str:
    """The harmony system message; ``current_date`` is ``YYYY-MM-DD`` or None to leave the line out."""
    if reasoning_effort not in ("low", "medium", "high"):
        raise ChatTemplateError(f"reasoning_effort must be low, medium or high, got {reasoning_effort!r}")
    header = [model_identity, f"Knowledge cutoff: {knowledge_cutoff}"]
    if current_date is not None:
        header.append(f"Current date: {current_date}")
    sections = ["\n".join(header), f"Reasoning: {reasoning_effort}",
                f"# Valid channels: {', '.join(CHANNELS)}. Channel must be included for every message."]
    return f"{START}system{MESSAGE}" + "\n\n".join(sections) + END


def render(messages: Sequence[Mapping[str, Any]], *, reasoning_effort: ReasoningEffort = "medium",
           current_date: str | None = None, add_generation_prompt: bool = True,
           knowledge_cutoff: str = KNOWLEDGE_CUTOFF, model_identity: str = MODEL_IDENTITY) -> str:
    """The harmony prompt text for chat ``messages`` (dicts with ``role`` and ``content``).

    Roles: an optional first ``system``/``developer`` message (the instructions), then ``user`` and
    ``assistant`` turns. Encode the result with special-token parsing on and without adding BOS.
    """
    parts = [system_message(reasoning_effort=reasoning_effort, current_date=current_date,
                            knowledge_cutoff=knowledge_cutoff, model_identity=model_identity)]
    turns = list(messages)
    if turns and turns[0].get("role") in ("system", "developer"):
        parts.append(f"{START}developer{MESSAGE}# Instructions\n\n{_text(turns[0], 0)}{END}")
        turns = turns[1:]
    for i, message in enumerate(turns):
        role = message.get("role")
        if role == "user":
            parts.append(f"{START}user{MESSAGE}{_text(message, i)}{END}")
        elif role == "assistant":
            parts.append(f"{START}assistant{CHANNEL}final{MESSAGE}{_text(message, i)}{END}")
        else:
            raise ChatTemplateError(f"harmony chat: message {i} has role {role!r}; only a leading "
                                    "system/developer message, then user and assistant turns are supported")
    if add_generation_prompt:
        parts.append(f"{START}assistant")
    return "".join(parts)


def _text(message: Mapping[str, Any], index: int) -> str:
    content = message.get("content")
    if not isinstance(content, str):
        raise ChatTemplateError(f"harmony chat: message {index} needs string content, got {type(content).__name__}")
    if any(token in content for token in SPECIAL_TOKENS):
        raise ChatTemplateError(f"harmony chat: message {index} contains a harmony special token; pass the "
                                "final text only (analysis from earlier turns is dropped)")
    return content


class HarmonyMessage(BaseModel):
    """One message of a parsed assistant reply."""

    role: str
    channel: str | None = None
    recipient: str | None = None
    content_type: str | None = None
    content: str
    complete: bool = True


class HarmonyReply(BaseModel):
    messages: list[HarmonyMessage]

    def channel_text(self, channel: str) -> str:
        """All text the reply wrote to ``channel``, messages joined by blank lines."""
        return "\n\n".join(m.content for m in self.messages if m.channel == channel)

    @property
    def analysis(self) -> str:
        return self.channel_text("analysis")

    @property
    def final(self) -> str:
        return self.channel_text("final")


_RECIPIENT = re.compile(r"\s*to=([^\s<]+)")


def parse_header(header: str, default_role: str = "assistant") -> dict[str, str | None]:
    """Split a header such as ``assistant to=functions.f<|channel|>commentary <|constrain|>json``.

    The recipient may sit in the role part or the channel part; the role may be absent when the
    caller's generation prompt already named it.
    """
    recipient = _RECIPIENT.search(header)
    header = _RECIPIENT.sub("", header, count=1).replace(CONSTRAIN, " " + CONSTRAIN)
    role_part, _, channel_part = header.partition(CHANNEL)
    role_words, channel_words = role_part.split(), channel_part.split()
    return {"role": role_words[0] if role_words else default_role,
            "channel": channel_words[0] if channel_words else None,
            "recipient": recipient.group(1) if recipient else None,
            "content_type": " ".join(role_words[1:] + channel_words[1:]) or None}


def parse_reply(text: str, *, role: str = "assistant") -> HarmonyReply:
    """Split generated harmony text (decoded with special tokens kept) into its messages.

    The text starts right after the ``<|start|>assistant`` generation prompt. A last message cut
    short (no closing token) is kept with ``complete=False``.
    """
    messages: list[HarmonyMessage] = []
    rest = text
    while rest:
        if rest.startswith(START):
            rest = rest[len(START):]
        header, sep, rest = rest.partition(MESSAGE)
        if not sep:
            break
        body, closer = _split_content(rest)
        rest = rest[len(body) + len(closer):]
        messages.append(HarmonyMessage(**parse_header(header, role), content=body, complete=bool(closer)))
        if closer in STOP_TOKENS:
            break
    return HarmonyReply(messages=messages)


def _split_content(rest: str) -> tuple[str, str]:
    """The content up to the first closing token, and that token ('' when the text ends first)."""
    positions = [(rest.find(t), t) for t in (END, RETURN, CALL) if t in rest]
    if not positions:
        return rest, ""
    at, token = min(positions)
    return rest[:at], token
