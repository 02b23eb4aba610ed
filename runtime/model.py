"""The user-facing :class:`Model`: logits, generation, streaming and chat over a runner and a tokenizer.

``runtime.load()`` builds one; tests and plugins may build one directly from any runner with
``reset()``/``forward()`` and a tokenizer.
"""
from __future__ import annotations

import datetime as _dt
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from pydantic import BaseModel, Field

from runtime.chat import harmony
from runtime.chat.template import ChatTemplate
from runtime.engine.generate import Completion, Runner, Stream
from runtime.engine.sampling import SamplingParams
from runtime.errors import ChatTemplateError, GenerationError
from runtime.provenance import ProvenanceRecord

Messages = Sequence[Mapping[str, Any]]


class ModelInfo(BaseModel):
    """What a loaded model is and where it came from."""

    architecture: str = Field(description="GGUF general.architecture, e.g. gpt-oss, gpt2")
    plugin: str = Field(description="the architecture plugin serving it")
    quantization: dict[str, int] = Field(default_factory=dict, description="ggml type name -> tensor count")
    n_params: int = 0
    context_length: int
    backend: str = Field("cpu", description='"cpu" (NumPy) or "cuda" (PyCUDA)')
    load_s: float = Field(0.0, description="seconds spent loading")
    provenance: ProvenanceRecord | None = None


class ChatReply(BaseModel):
    """A chat answer: ``text`` is what to show the user (the ``final`` channel for harmony models)."""

    text: str
    analysis: str = Field("", description="the harmony analysis channel (chain of thought); empty otherwise")
    completion: Completion

    @property
    def final(self) -> str:
        return self.text


def _sampling(params: SamplingParams | None, overrides: Mapping[str, Any]) -> SamplingParams:
    if params is None:
        return SamplingParams(**overrides)
    return params.model_copy(update=dict(overrides)) if overrides else params


class Model:
    """A loaded language model. Sampling keywords are those of :class:`SamplingParams`."""

    def __init__(self, runner: Runner, tokenizer, info: ModelInfo, backend: str | None = None):
        self.runner = runner
        self.tokenizer = tokenizer
        self.info = info if backend is None else info.model_copy(update={"backend": backend})

    def __repr__(self) -> str:
        return f"Model({self.info.architecture}, backend={self.info.backend}, context={self.info.context_length})"

    # -- raw model -------------------------------------------------------------------------------------
    def logits(self, token_ids: Sequence[int]) -> np.ndarray:
        """Logits for every position of ``token_ids`` from an empty cache: float32 (len, vocab)."""
        ids = [int(t) for t in token_ids]
        if not ids:
            raise GenerationError("logits() needs at least one token id")
        if len(ids) > self.runner.context_length:
            raise GenerationError(f"{len(ids)} tokens exceed the context length {self.runner.context_length}")
        self.runner.reset()
        return np.asarray(self.runner.forward(ids), dtype=np.float32)

    # -- completion ------------------------------------------------------------------------------------
    def stream(self, prompt: str | Sequence[int], *, params: SamplingParams | None = None,
               skip_special: bool = False, **sampling: Any) -> Stream:
        """Start generating from a prompt (text, encoded with the tokenizer's BOS rule, or token ids).

        Iterate the result for :class:`~runtime.engine.Chunk` s; ``.result()`` gives the completion.
        """
        ids = self.tokenizer.encode(prompt) if isinstance(prompt, str) else list(prompt)
        return self._stream(ids, _sampling(params, sampling), self._end_ids(), skip_special)

    def generate(self, prompt: str | Sequence[int], *, params: SamplingParams | None = None,
                 skip_special: bool = False, **sampling: Any) -> Completion:
        """Generate to the end: a :class:`~runtime.engine.Completion`."""
        return self.stream(prompt, params=params, skip_special=skip_special, **sampling).result()

    # -- chat ------------------------------------------------------------------------------------------
    @property
    def uses_harmony(self) -> bool:
        """GPT-OSS models speak the harmony format instead of their Jinja template."""
        return self.info.architecture == "gpt-oss" or self.tokenizer.token_to_id(harmony.CHANNEL) is not None

    def chat_prompt(self, messages: Messages, *, reasoning_effort: harmony.ReasoningEffort | None = None,
                    current_date: str | None = None) -> list[int]:
        """Token ids of the chat prompt, ending where the assistant's reply starts."""
        if self.uses_harmony:
            text = harmony.render(messages, reasoning_effort=reasoning_effort or "medium",
                                  current_date=current_date or _dt.date.today().isoformat())
        else:
            extra = {"reasoning_effort": reasoning_effort} if reasoning_effort else {}
            text = self._chat_template().render(messages, add_generation_prompt=True, **extra)
        return self.tokenizer.encode(text, add_special=False, parse_special=True)

    def chat_stream(self, messages: Messages, *, reasoning_effort: harmony.ReasoningEffort | None = None,
                    current_date: str | None = None, params: SamplingParams | None = None,
                    **sampling: Any) -> Stream:
        """Stream the assistant's reply. Harmony replies stream raw (channel markers included)."""
        ids = self.chat_prompt(messages, reasoning_effort=reasoning_effort, current_date=current_date)
        if self.uses_harmony:
            return self._stream(ids, _sampling(params, sampling), self._harmony_stop_ids(), skip_special=False)
        return self._stream(ids, _sampling(params, sampling), self._end_ids(), skip_special=True)

    def chat(self, messages: Messages, *, reasoning_effort: harmony.ReasoningEffort | None = None,
             current_date: str | None = None, params: SamplingParams | None = None, **sampling: Any) -> ChatReply:
        """Answer a conversation (list of ``{"role", "content"}``); see :class:`ChatReply`."""
        completion = self.chat_stream(messages, reasoning_effort=reasoning_effort, current_date=current_date,
                                      params=params, **sampling).result()
        return self.reply_from(completion)

    def reply_from(self, completion: Completion) -> ChatReply:
        """Split a chat completion into the text to show and (for harmony) the analysis channel."""
        if not self.uses_harmony:
            return ChatReply(text=completion.text, completion=completion)
        parsed = harmony.parse_reply(completion.text)
        has_channels = any(m.channel for m in parsed.messages)
        return ChatReply(text=parsed.final if has_channels else completion.text, analysis=parsed.analysis,
                         completion=completion)

    # -- helpers ---------------------------------------------------------------------------------------
    def _stream(self, ids: list[int], params: SamplingParams, end_ids: set[int], skip_special: bool) -> Stream:
        return Stream(self.runner, self.tokenizer, ids, params, end_ids=end_ids, load_s=self.info.load_s,
                      skip_special=skip_special)

    def _end_ids(self) -> set[int]:
        info = self.tokenizer.info
        return {i for i in (info.eos_id, info.eot_id) if i is not None}

    def _harmony_stop_ids(self) -> set[int]:
        ids = {self.tokenizer.token_to_id(t) for t in harmony.STOP_TOKENS}
        if None in ids:
            raise ChatTemplateError(f"harmony chat needs the special tokens {harmony.STOP_TOKENS} in the vocabulary")
        return ids

    def _chat_template(self) -> ChatTemplate:
        info = self.tokenizer.info
        if not info.chat_template:
            raise ChatTemplateError("this model's GGUF has no tokenizer.chat_template; use generate() with a "
                                    "prompt you format yourself")
        names = {"bos_token": info.bos_id, "eos_token": info.eos_id, "unk_token": info.unk_id,
                 "pad_token": info.pad_id}
        special = {name: self.tokenizer.decode([i]) for name, i in names.items() if i is not None}
        return ChatTemplate(info.chat_template, special_tokens=special)
