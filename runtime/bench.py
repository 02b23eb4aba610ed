"""``plugrt bench``: prefill and decode throughput in llama-bench's terms (pp N, tg N, depth d)."""
from __future__ import annotations

import logging
import statistics
import time
from pathlib import Path

import numpy as np
from pydantic import BaseModel

from runtime.engine.generate import greedy_stream
from runtime.gguf.reader import GGUFFile, open_gguf

log = logging.getLogger(__name__)


class Measurement(BaseModel):
    """One test (``pp512``, ``tg128``, ``tg128@d4096``) over its repetitions."""

    test: str
    n_prompt: int
    n_gen: int
    depth: int
    tokens_per_s: list[float]
    avg_ts: float
    stddev_ts: float


class BenchReport(BaseModel):
    model: str
    architecture: str
    backend: str
    device_name: str
    file_size: int
    n_params: int
    types: dict[str, int]
    load_s: float
    ttft_ms: float
    peak_device_bytes: int | None
    decode_weight_bytes: int
    results: list[Measurement]


class _DeviceMemory:
    """Tracks the lowest free device memory seen (the peak in use), on CUDA only."""

    def __init__(self, backend: str):
        self.driver = None
        if backend == "cuda":
            import pycuda.driver as driver

            self.driver = driver
        self.min_free: int | None = None
        self.sample()

    def sample(self) -> None:
        if self.driver is not None:
            free, self.total = self.driver.mem_get_info()
            self.min_free = free if self.min_free is None else min(self.min_free, free)

    @property
    def peak(self) -> int | None:
        return None if self.min_free is None else self.total - self.min_free


def decode_weight_bytes(gguf: GGUFFile) -> int:
    """Bytes of weights one decode token reads: each tensor once, expert tensors (``*_exps``) only
    for the experts a token uses, the token embedding one row (all of it when it is the LM head)."""
    arch = gguf.architecture
    used, experts = gguf.metadata.get(f"{arch}.expert_used_count"), gguf.metadata.get(f"{arch}.expert_count")
    total = 0
    for t in gguf.tensors.values():
        if t.name == "token_embd.weight" and "output.weight" in gguf.tensors:
            total += t.nbytes // t.shape[0]
        elif "_exps." in t.name and used and experts:
            total += t.nbytes * int(used) // int(experts)
        else:
            total += t.nbytes
    return total


def _device_name(backend: str) -> str:
    if backend != "cuda":
        return "cpu"
    import pycuda.driver as driver

    return driver.Context.get_device().name()


def _summary(test: str, n_prompt: int, n_gen: int, depth: int, rates: list[float]) -> Measurement:
    return Measurement(test=test, n_prompt=n_prompt, n_gen=n_gen, depth=depth, tokens_per_s=rates,
                       avg_ts=statistics.fmean(rates), stddev_ts=statistics.stdev(rates) if len(rates) > 1 else 0.0)


def run_bench(model_path: str | Path, *, prompts: list[int], n_gen: int, depths: list[int], repetitions: int,
              device: str = "auto", warmup: bool = True) -> BenchReport:
    """Time prefill of each prompt length and decode of ``n_gen`` tokens after each depth."""
    import runtime

    model = runtime.load(model_path, device=device)
    runner, backend = model.runner, model.info.backend
    memory = _DeviceMemory(backend)
    rng = np.random.default_rng(0)
    random_ids = lambda n: rng.integers(0, runner.vocab_size, n).tolist()  # noqa: E731
    if warmup:  # compile kernels and touch every weight once
        runner.reset()
        runner.forward(random_ids(min(max(prompts + [1]), runner.context_length)), logits_for="last")
        runner.forward(random_ids(1), logits_for="last")
    results, ttft_ms = [], 0.0
    for n in prompts:
        rates = []
        for _ in range(repetitions):
            runner.reset()
            start = time.perf_counter()
            runner.forward(random_ids(n), logits_for="last")
            elapsed = time.perf_counter() - start
            rates.append(n / elapsed)
            ttft_ms = ttft_ms or elapsed * 1e3
            memory.sample()
        results.append(_summary(f"pp{n}", n, 0, 0, rates))
    for depth in depths if n_gen else []:
        rates = []
        for _ in range(repetitions):
            runner.reset()
            tokens = greedy_stream(runner, random_ids(depth + 1))  # as plugrt generate decodes greedily
            next(tokens)
            start = time.perf_counter()
            for _ in range(n_gen):
                next(tokens)
            rates.append(n_gen / (time.perf_counter() - start))
            tokens.close()
            memory.sample()
        results.append(_summary(f"tg{n_gen}" + (f"@d{depth}" if depth else ""), 0, n_gen, depth, rates))
    info = model.info
    with open_gguf(info.provenance.path) as gguf:
        weight_bytes = decode_weight_bytes(gguf)
    return BenchReport(model=str(model_path), architecture=info.architecture, backend=backend,
                       device_name=_device_name(backend), file_size=Path(info.provenance.path).stat().st_size,
                       n_params=info.n_params, types=info.quantization, load_s=info.load_s, ttft_ms=ttft_ms,
                       peak_device_bytes=memory.peak, decode_weight_bytes=weight_bytes, results=results)


def format_report(r: BenchReport) -> str:
    lines = [f"model: {r.model} ({r.architecture}, {r.file_size / 2**30:.2f} GiB, {r.n_params / 1e9:.2f} B params, "
             f"{', '.join(f'{k}:{v}' for k, v in sorted(r.types.items()))})",
             f"backend: {r.backend} ({r.device_name}); load {r.load_s:.2f} s; ttft {r.ttft_ms:.1f} ms"
             + (f"; peak device memory {r.peak_device_bytes / 2**30:.2f} GiB" if r.peak_device_bytes else ""),
             "", f"| {'test':>14} | {'t/s':>20} |", f"| {'-' * 14}:| {'-' * 20}:|"]
    lines += [f"| {m.test:>14} | {m.avg_ts:>11.2f} ± {m.stddev_ts:>6.2f} |" for m in r.results]
    lines += ["", f"decode reads {r.decode_weight_bytes / 1e9:.2f} GB of weights per token"]
    lines += [f"{m.test}: {m.avg_ts * r.decode_weight_bytes / 1e9:.0f} GB/s of weights" for m in r.results if m.n_gen]
    return "\n".join(lines)
