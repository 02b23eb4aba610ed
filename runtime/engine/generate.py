"""The decode loop: prefill the prompt, then sample and feed back one token at a time.

Every sampled token yields exactly one :class:`Chunk` (its text may be empty while UTF-8 bytes or a
possible stop string are held back), so the chunks of a stream add up to its :class:`Completion`.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Collection, Iterator, Sequence
from typing import Literal, Protocol

import numpy as np
from pydantic import BaseModel, Field

from runtime.engine.sampling import Sampler, SamplingParams
from runtime.engine.stops import StopStringFilter
from runtime.errors import GenerationError

log = logging.getLogger(__name__)

FinishReason = Literal["stop", "length"]


class Runner(Protocol):
    """What the engine needs from a model runner (built by an architecture adapter).

    A runner may also offer ``forward_greedy(token_ids) -> int`` (``forward``, then the argmax of
    the last position, computed where the logits are); greedy decoding then fetches one id per
    token instead of a row of logits. Better still, ``greedy_tokens(token_ids) -> Iterator[int]``
    (see :meth:`runtime.runner.CausalLM.greedy_tokens`) lets the device run ahead of the host.
    """

    vocab_size: int
    context_length: int

    def reset(self) -> None: ...

    def forward(self, token_ids: Sequence[int], *, logits_for: str = "all") -> np.ndarray:
        """Append ``token_ids`` to the cache; logits [n, vocab], or [1, vocab] for the last
        position only with ``logits_for="last"`` (prefill then skips the LM head elsewhere)."""


class StreamDecoder(Protocol):
    def feed(self, token_id: int) -> str: ...

    def flush(self) -> str: ...


class Detokenizer(Protocol):
    def stream_decoder(self, *, skip_special: bool = False) -> StreamDecoder: ...


class Chunk(BaseModel):
    """A piece of streamed output: the text it adds and the token ids that produced it."""

    text: str
    token_ids: list[int]


class Timings(BaseModel):
    load_s: float = Field(0.0, description="seconds spent loading the model")
    ttft_ms: float = Field(0.0, description="from the request to the first sampled token")
    prompt_tokens_per_s: float = Field(0.0, description="prefill throughput")
    tokens_per_s: float = Field(0.0, description="decode throughput after the first token")


class Completion(BaseModel):
    """The result of one generation.

    ``token_ids`` holds every sampled token, including the end-of-generation or stop token that ended
    it; ``text`` is their decoded text without that token and cut right before a stop string.
    """

    text: str
    token_ids: list[int]
    prompt_tokens: int
    finish_reason: FinishReason
    timings: Timings


class Stream:
    """Iterate to get :class:`Chunk` s as tokens are produced; afterwards ``completion`` holds the result."""

    def __init__(self, runner: Runner, tokenizer: Detokenizer, prompt_ids: Sequence[int],
                 params: SamplingParams, *, end_ids: Collection[int] = (), load_s: float = 0.0,
                 skip_special: bool = False):
        prompt = [int(t) for t in prompt_ids]
        if not prompt:
            raise GenerationError("the prompt is empty: give at least one token (e.g. the BOS token)")
        if len(prompt) > runner.context_length:
            raise GenerationError(f"the prompt has {len(prompt)} tokens, more than the context length "
                                  f"{runner.context_length}")
        self.completion: Completion | None = None
        self._chunks = self._run(runner, tokenizer, prompt, params,
                                 frozenset(end_ids) | frozenset(params.stop_token_ids), load_s, skip_special)

    def __iter__(self) -> Iterator[Chunk]:
        return self

    def __next__(self) -> Chunk:
        return next(self._chunks)

    def result(self) -> Completion:
        """Run to the end (if not done yet) and return the completion."""
        for _ in self:
            pass
        assert self.completion is not None
        return self.completion

    def _run(self, runner: Runner, tokenizer: Detokenizer, prompt: list[int], params: SamplingParams,
             end_ids: frozenset[int], load_s: float, skip_special: bool) -> Iterator[Chunk]:
        # The last sampled token is never fed back, so it may take the position just past the context.
        limit = min(params.max_tokens, runner.context_length - len(prompt) + 1)
        sampler = Sampler(params)
        decoder = tokenizer.stream_decoder(skip_special=skip_special)
        stops = StopStringFilter(params.stop)
        context, generated, texts = list(prompt), [], []
        finish: FinishReason = "length"
        start = time.perf_counter()
        prefill_s = first_at = last_at = 0.0
        greedy = params.temperature == 0.0 and not params.uses_penalties
        greedy_feed = greedy_stream(runner, prompt) if greedy else None

        def next_token(ids: list[int]) -> int:
            if greedy_feed is not None:  # fed with the prompt and its own tokens
                return next(greedy_feed)
            return sampler(_last_row(runner.forward(ids, logits_for="last"), runner.vocab_size), context)

        try:
            if limit > 0:
                runner.reset()
                token = next_token(prompt)
                prefill_s = time.perf_counter() - start
            while len(generated) < limit:
                last_at = time.perf_counter()
                first_at = first_at or last_at
                generated.append(token)
                context.append(token)
                is_end = token in end_ids
                is_last = is_end or len(generated) == limit
                piece = "" if is_end else decoder.feed(token)
                if is_last:
                    piece += decoder.flush()
                text, hit_stop = stops.push(piece)
                if is_last and not hit_stop:
                    text += stops.flush()
                if is_end or hit_stop:
                    finish = "stop"
                texts.append(text)
                yield Chunk(text=text, token_ids=[token])
                if is_last or hit_stop:
                    break
                token = next_token([token])
        finally:
            if greedy_feed is not None:
                greedy_feed.close()
        timings = Timings(
            load_s=load_s,
            ttft_ms=(first_at - start) * 1e3 if generated else 0.0,
            prompt_tokens_per_s=len(prompt) / prefill_s if prefill_s > 0 else 0.0,
            tokens_per_s=(len(generated) - 1) / (last_at - first_at) if last_at > first_at else 0.0)
        self.completion = Completion(text="".join(texts), token_ids=generated, prompt_tokens=len(prompt),
                                     finish_reason=finish, timings=timings)
        log.debug("generated %d tokens (%s): %s", len(generated), finish, timings)


def greedy_stream(runner: Runner, prompt: Sequence[int]) -> Iterator[int]:
    """Greedy decoding after ``prompt`` with the best the runner offers: ``greedy_tokens`` (the device
    runs a step ahead), else ``forward_greedy`` (the argmax taken where the logits are), else the
    argmax of ``forward``'s logits. Close it when done (the runner is then left as if every token
    but the last one it gave had been fed)."""
    if hasattr(runner, "greedy_tokens"):
        yield from runner.greedy_tokens(prompt)
        return

    def argmax_of_forward(ids: list[int]) -> int:
        return int(np.argmax(_last_row(runner.forward(ids, logits_for="last"), runner.vocab_size)))

    step = getattr(runner, "forward_greedy", argmax_of_forward)
    token = step(list(prompt))
    while True:
        yield token
        token = step([token])


def _last_row(logits: np.ndarray, vocab_size: int) -> np.ndarray:
    logits = np.asarray(logits)
    if logits.ndim != 2 or logits.shape[1] != vocab_size:
        raise GenerationError(f"runner.forward returned logits of shape {logits.shape}, "
                              f"expected (tokens, {vocab_size})")
    return logits[-1]


def stream(runner: Runner, tokenizer: Detokenizer, prompt_ids: Sequence[int], params: SamplingParams,
           **options) -> Stream:
    """Start a generation; see :class:`Stream` (options: end_ids, load_s, skip_special)."""
    return Stream(runner, tokenizer, prompt_ids, params, **options)


def generate(runner: Runner, tokenizer: Detokenizer, prompt_ids: Sequence[int], params: SamplingParams,
             **options) -> Completion:
    """Run a generation to the end and return its :class:`Completion`."""
    return Stream(runner, tokenizer, prompt_ids, params, **options).result()
