"""The runner the engine drives: token ids in, logits out, positions and KV cache kept inside."""
from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, Callable, Iterator, Sequence

import numpy as np

from runtime.backend.base import Backend
from runtime.errors import GenerationError
from runtime.gguf.reader import GGUFFile

#: Prefill is run in chunks of at most this many tokens (sliding-window rings are sized for it).
#: Larger chunks give each MoE expert more tokens per weight tile (gpt-oss-20b pp2048 on an H200:
#: 7193 tokens/s in chunks of 512, 9549 in chunks of 2048); see docs/PERFORMANCE.md.
MAX_TOKENS_PER_CALL = 2048
#: ... and of at most this many where every position's logits are wanted (``logits_for="all"``):
#: such a call holds a row of vocab floats per token (gpt-oss: 0.8 MB a token).
MAX_LOGIT_ROWS_PER_CALL = 512


class WeightLoader:
    """Uploads a GGUF file's tensors to a backend by name."""

    def __init__(self, gguf: GGUFFile, backend: Backend):
        self.gguf, self.backend = gguf, backend

    def has(self, name: str) -> bool:
        return name in self.gguf.tensors

    def weight(self, name: str):
        """For ``linear``/``embedding``/``linear_experts``: stays in its ggml type."""
        return self.backend.weight(self.gguf.tensors[name], self.gguf.raw(name))

    def param(self, name: str):
        """For the ops (norms, biases, sinks, position table): float32."""
        return self.backend.param(self.gguf.tensors[name], self.gguf.raw(name))


class CausalLM(ABC):
    """Appends tokens at the next positions; ``forward`` returns float32 logits per position."""

    vocab_size: int
    context_length: int

    def __init__(self, backend: Backend, vocab_size: int, context_length: int,
                 max_tokens_per_call: int = MAX_TOKENS_PER_CALL):
        self.backend = backend
        self.vocab_size, self.context_length = vocab_size, context_length
        self.max_tokens_per_call = max_tokens_per_call
        self.position = 0
        #: the recorded decode step (graph, ids buffer, positions buffer); None: not recorded yet;
        #: False: recording failed, or is not wanted
        self._step: tuple | bool | None = None

    def reset(self) -> None:
        """Forget every token (the cache rows are overwritten as new tokens arrive)."""
        self.position = 0

    def forward(self, token_ids: Sequence[int], *, logits_for: str = "all") -> np.ndarray:
        """Run ``token_ids`` at positions ``self.position ...``; logits [n, vocab] for every
        position, or [1, vocab] for the last one with ``logits_for="last"``."""
        if logits_for not in ("all", "last"):
            raise ValueError(f"logits_for must be 'all' or 'last', not {logits_for!r}")
        return np.concatenate(self._run(token_ids, logits_for, self.backend.numpy), axis=0)

    def forward_greedy(self, token_ids: Sequence[int]) -> int:
        """Run ``token_ids`` like :meth:`forward`; the id of the most likely next token (ties: the
        lower id). The argmax runs on the backend, so one id comes back, not a row of logits."""
        last = self._run(token_ids, "last", lambda logits: self.backend.numpy(self.backend.argmax(logits)),
                         replayed=lambda ids_buffer: self.backend.numpy(ids_buffer))
        return int(last[-1][-1])

    def _run(self, token_ids: Sequence[int], logits_for: str, fetch: Callable[[Any], np.ndarray],
             replayed: Callable[[Any], np.ndarray] | None = None) -> list:
        """The chunks of ``token_ids`` through the model; ``fetch`` of each chunk's logits, or of a
        recorded step's, ``replayed`` of its ids buffer (which then holds the greedy next token)."""
        ids = np.asarray(token_ids, dtype=np.int64).reshape(-1)
        if ids.size == 0:
            raise GenerationError("forward() needs at least one token")
        if self.position + ids.size > self.context_length:
            raise GenerationError(f"{self.position} + {ids.size} tokens exceed the context of "
                                  f"{self.context_length}")
        if ids.min() < 0 or ids.max() >= self.vocab_size:
            raise GenerationError(f"token id out of range [0, {self.vocab_size})")
        outputs = []
        per_call = self.max_tokens_per_call
        if logits_for == "all":
            per_call = min(per_call, MAX_LOGIT_ROWS_PER_CALL)
        for start in range(0, ids.size, per_call):
            chunk = ids[start:start + per_call]
            last_chunk = start + chunk.size == ids.size
            want = "none" if logits_for == "last" and not last_chunk else logits_for
            positions = np.arange(self.position, self.position + chunk.size, dtype=np.int32)
            # on a failure (out of device memory included) the chunk's temporaries are released
            # and the position stays put, so the runner can be used again
            with self.backend.allocator.transaction("forward"):
                fetched = self._run_chunk(chunk.astype(np.int32), positions, want, fetch, replayed)
                if fetched is not None:
                    outputs.append(fetched)
            self.position += chunk.size
        return outputs

    def _run_chunk(self, ids: np.ndarray, positions: np.ndarray, want: str, fetch, replayed) -> np.ndarray | None:
        if ids.size == 1 and want != "none" and self.backend.can_record and self._step is not False:
            fetched = self._replay_step(ids, positions, fetch, replayed)
            if fetched is not None:
                return fetched
        logits = self._forward_chunk(self.backend.tensor(ids), self.backend.tensor(positions), want)
        return None if logits is None else fetch(logits)

    def _replay_step(self, ids: np.ndarray, positions: np.ndarray, fetch, replayed) -> np.ndarray | None:
        """``fetch`` of one token's logits from the recorded decode step (or ``replayed`` of its ids
        buffer); None where the backend cannot record."""
        step = self._recorded_step(ids, positions)
        if step is None:
            return None
        graph, ids_buffer, _ = step
        try:
            graph.launch()
            return fetch(graph.result) if replayed is None else replayed(ids_buffer)
        except BaseException:
            self._step = None  # a failed call's buffers are released: record again next time
            raise

    def _recorded_step(self, ids: np.ndarray, positions: np.ndarray) -> tuple | None:
        """The recorded decode step (graph, ids buffer, positions buffer), recorded on first use, with
        ``ids`` and ``positions`` written into its buffers; None where the backend cannot record.

        The step reads its token id and position from those fixed device buffers, so one recording
        serves every position; it ends by writing its greedy next token and position back into them
        (``Backend.greedy_feedback``), so it can also run again straight away (``greedy_tokens``)."""
        try:
            if self._step is None:
                ids_buffer, positions_buffer = self.backend.tensor(ids), self.backend.tensor(positions)

                def step():
                    logits = self._forward_chunk(ids_buffer, positions_buffer, "last")
                    self.backend.greedy_feedback(logits, ids_buffer, positions_buffer)
                    return logits

                graph = self.backend.record(step)
                self._step = False if graph is None else (graph, ids_buffer, positions_buffer)
            if self._step is False:
                return None
            _, ids_buffer, positions_buffer = self._step
            self.backend.write(ids_buffer, ids)
            self.backend.write(positions_buffer, positions)
            return self._step
        except BaseException:
            self._step = None
            raise

    def greedy_tokens(self, token_ids: Sequence[int]) -> Iterator[int]:
        """Greedy decoding: yields the most likely token after ``token_ids``, then the most likely
        after each token it yielded, until the caller stops or the context is full.

        Where the decode step is recorded, the step that feeds a token is queued before the token is
        handed out, and reads it (and its position) from device memory: the caller's work on one
        token overlaps the device's next step. When the caller stops, the runner is left as if every
        token handed out but the last had been fed (the last one's queued step is disowned).
        """
        token = self.forward_greedy(token_ids)
        start, handed = self.position, 0
        step = None
        if self.position < self.context_length and self.backend.can_record:
            step = self._recorded_step(np.array([token], np.int32), np.array([self.position], np.int32))
        if step is None:
            while True:
                yield token
                if self.position >= self.context_length:
                    return
                token = self.forward_greedy([token])
        graph, ids_buffer, _ = step

        def queue() -> Callable[[], int]:
            """The step feeding the token in ``ids_buffer``; returns the wait for its successor."""
            graph.launch()
            self.position += 1
            copy = self.backend.copy_to_host_async(ids_buffer)
            return lambda: int(copy()[-1])

        pending = None
        try:
            pending = queue()
            while True:
                handed += 1
                yield token
                upcoming = queue() if self.position < self.context_length else None
                token, pending = pending(), upcoming
                if pending is None:
                    handed += 1
                    yield token
                    return
        except GeneratorExit:
            raise
        except BaseException:
            self._step, pending = None, None
            raise
        finally:
            if pending is not None:
                pending()  # the disowned step must finish before anything rewrites its buffers
            self.position = start + max(handed - 1, 0)

    def forward_last(self, token_ids: Sequence[int]) -> np.ndarray:
        """Logits [vocab] of the last token only (prefill without the full LM head)."""
        return self.forward(token_ids, logits_for="last")[0]

    def _head_input(self, x: Any, n: int, want: str) -> Any:
        """The hidden rows the LM head needs: all, the last one, or none."""
        if want == "none":
            return None
        return x if want == "all" else self.backend.rows(x, n - 1, n)

    @abstractmethod
    def _forward_chunk(self, ids: Any, positions: Any, want: str) -> Any:
        """One chunk through the model; logits on the backend, or None when ``want == "none"``."""
