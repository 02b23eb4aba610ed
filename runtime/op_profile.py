"""``plugrt profile``: where a forward call's time goes, op by op.

Every backend op of a prefill chunk and of a few decode steps is bracketed by timestamps taken on
the device (CUDA events on plugrt's stream; the wall clock on the CPU). Weight products are told
apart by the weight they read (``linear attn_q.weight (Q8_0)``). The steps run kernel by kernel,
not replayed from a CUDA graph. On the GPU the stream is held busy for ``HOLD_MS`` before every
``HOLD_EVERY`` ops, so the host queues those ops' kernels ahead of the device (the driver queues
only so many) and the rows are device time, as in a replayed graph, not Python's launch pace; the
holds are left out of every figure. "Outside the ops" is the rest of the call: gaps between ops,
launches the ops do not cover, the copy of the logits.
"""
from __future__ import annotations

import re
import time
from collections import defaultdict
from typing import Any, Callable

import numpy as np
from pydantic import BaseModel

from runtime.backend.base import Weight

#: the backend ops a forward pass is written in (runtime.backend.base.Backend)
OPS = ("embedding", "linear", "linear_experts", "linear_experts_swiglu_oai", "rms_norm", "add_rms_norm", "layer_norm",
       "gelu_tanh", "add_bias_gelu", "add", "add_bias", "add_position_embedding", "split_columns", "rope_neox",
       "kv_store", "attention", "moe_router", "swiglu_oai", "moe_combine")


class OpRow(BaseModel):
    op: str
    calls: int
    ms: float
    share: float


class PhaseProfile(BaseModel):
    """One phase: ``calls`` forward calls of ``tokens_per_call`` tokens; times are per call."""

    phase: str
    tokens_per_call: int
    calls: int
    ms_per_call: float
    rows: list[OpRow]


#: the GPU is held HOLD_MS before every HOLD_EVERY ops (time enough for the host to queue them)
HOLD_MS = 2.0
HOLD_EVERY = 16


class _WallClock:
    def mark(self) -> float:
        return time.perf_counter()

    def hold(self) -> None:
        pass

    def settle(self) -> None:
        pass

    @staticmethod
    def elapsed_ms(start: float, stop: float) -> float:
        return (stop - start) * 1e3


class _CudaEvents:
    def __init__(self) -> None:
        import pycuda.driver as drv

        from runtime.cuda import device

        self._event, self._stream = drv.Event, device.stream()

    def mark(self):
        event = self._event()
        event.record(self._stream)
        return event

    def hold(self) -> None:
        from runtime.cuda.ops import hold_stream

        hold_stream(HOLD_MS, self._stream)

    def settle(self) -> None:
        self._stream.synchronize()

    @staticmethod
    def elapsed_ms(start, stop) -> float:
        return stop.time_since(start)


def _label(op: str, args: tuple) -> str:
    weight = next((a for a in args if isinstance(a, Weight)), None)
    if weight is None:
        return op
    role = re.sub(r"^blk\.\d+\.", "", weight.name)  # the same tensor of every layer on one row
    return f"{op} {role} ({weight.fmt.name})"


class _OpTimer:
    """Wraps the backend's ops on the instance; only outermost ops are timed (``linear_experts``
    gathers its bias with ``embedding``, which counts as part of it)."""

    def __init__(self, backend, clock) -> None:
        self.backend, self.clock = backend, clock
        self.marks: list[tuple[str, Any, Any]] = []
        self.first_mark: Any = None  # of the current call, taken when its first op is queued
        self.holds: list[tuple[Any, Any]] = []
        self._ops_since_hold = 0
        self._depth = 0

    def _timed(self, op: str, fn: Callable) -> Callable:
        def call(*args, **kwargs):
            if self._depth:
                return fn(*args, **kwargs)
            self._depth += 1
            try:
                if self.first_mark is None or self._ops_since_hold == HOLD_EVERY:
                    self._hold()
                self._ops_since_hold += 1
                start = self.clock.mark()
                out = fn(*args, **kwargs)
                self.marks.append((_label(op, args), start, self.clock.mark()))
                return out
            finally:
                self._depth -= 1
        return call

    def _hold(self) -> None:
        before = self.clock.mark()
        self.clock.hold()
        self.holds.append((before, self.clock.mark()))
        if self.first_mark is None:
            self.first_mark = before
        self._ops_since_hold = 0

    def __enter__(self) -> "_OpTimer":
        for op in OPS:
            setattr(self.backend, op, self._timed(op, getattr(self.backend, op)))
        return self

    def __exit__(self, *exc) -> None:
        for op in OPS:
            delattr(self.backend, op)


def _phase(timer: _OpTimer, name: str, calls: list[Callable[[], Any]], tokens_per_call: int) -> PhaseProfile:
    clock = timer.clock
    timer.marks.clear()
    timer.holds.clear()
    spans = []
    for call in calls:
        timer.first_mark = None
        call()
        spans.append((timer.first_mark, clock.mark()))
    clock.settle()
    total = sum(clock.elapsed_ms(a, b) for a, b in spans) - sum(clock.elapsed_ms(a, b) for a, b in timer.holds)
    per_op: dict[str, list[float]] = defaultdict(list)
    for label, a, b in timer.marks:
        per_op[label].append(clock.elapsed_ms(a, b))
    n = len(calls)
    rows = [OpRow(op=label, calls=len(times) // n, ms=sum(times) / n, share=sum(times) / total)
            for label, times in per_op.items()]
    rows.sort(key=lambda r: -r.ms)
    outside = total - sum(sum(t) for t in per_op.values())
    rows.append(OpRow(op="outside the ops", calls=0, ms=outside / n, share=outside / total))
    return PhaseProfile(phase=name, tokens_per_call=tokens_per_call, calls=n, ms_per_call=total / n, rows=rows)


def profile_ops(model, *, prompt_tokens: int = 512, decode_steps: int = 8) -> list[PhaseProfile]:
    """Per-op times of one ``prompt_tokens``-token prefill call and of ``decode_steps`` decode steps
    after it, measured after an untimed run of the same work (kernel compilation, first touches)."""
    runner = model.runner
    prompt_tokens = min(prompt_tokens, runner.max_tokens_per_call, runner.context_length - decode_steps)
    ids = np.random.default_rng(0).integers(0, runner.vocab_size, prompt_tokens).tolist()
    clock = _CudaEvents() if runner.backend.name == "cuda" else _WallClock()

    def measure(timer: _OpTimer) -> list[PhaseProfile]:
        runner.reset()
        return [_phase(timer, "prefill", [lambda: runner.forward(ids, logits_for="last")], prompt_tokens),
                _phase(timer, "decode", [lambda: runner.forward([ids[-1]], logits_for="last")] * decode_steps, 1)]

    recorded, runner._step = runner._step, False  # kernel by kernel: the ops must be visible
    try:
        with _OpTimer(runner.backend, clock) as timer:
            measure(timer)
            phases = measure(timer)
    finally:
        runner._step = recorded
    replayed = _replayed_step(runner, clock, ids[-1], decode_steps)
    return phases + ([replayed] if replayed is not None else [])


def _replayed_step(runner, clock, token: int, steps: int) -> PhaseProfile | None:
    """Device time of the decode step as :meth:`CausalLM.forward` replays it from its CUDA graph
    (launched back to back, the same step each time); None where the backend does not record."""
    if not runner.backend.can_record or runner._step is False:
        return None
    runner.reset()
    runner.forward([token], logits_for="last")  # recorded on first use
    if not runner._step:
        return None
    graph = runner._step[0]
    start = clock.mark()
    for _ in range(steps):
        graph.launch()
    stop = clock.mark()
    clock.settle()
    return PhaseProfile(phase="decode replayed from its CUDA graph (device time)", tokens_per_call=1,
                        calls=steps, ms_per_call=clock.elapsed_ms(start, stop) / steps, rows=[])


def format_profile(phases: list[PhaseProfile], top: int = 25) -> str:
    lines = []
    for p in phases:
        lines.append(f"{p.phase}: {p.tokens_per_call} token(s) per call, {p.ms_per_call:.3f} ms per call "
                     f"({p.tokens_per_call / p.ms_per_call * 1e3:.1f} tokens/s), mean of {p.calls}")
        if p.rows:
            lines.append(f"  {'op':<58}{'calls':>7}{'ms':>10}{'share':>8}")
        for row in p.rows[:top] + ([p.rows[-1]] if len(p.rows) > top else []):
            lines.append(f"  {row.op:<58}{row.calls:>7}{row.ms:>10.3f}{row.share:>8.1%}")
    return "\n".join(lines)
