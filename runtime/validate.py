"""``plugrt validate``: does the model as stored say what its full-precision reference says?

The same prompts run through the tested model (its file on the chosen device) and through a
reference on the CPU backend: either the same file (``"f32"``: the CPU backend dequantizes every
weight and multiplies in float32, so this is the dequantized-F32 model) or another GGUF of the
same model (e.g. an F32 conversion of the same checkpoint, where quantization error shows).
Per position it measures, as llama.cpp's ``perplexity --kl-divergence`` does, the KL divergence
KL(reference || tested), top-1 agreement and top-5 overlap, plus the logits' relative L2 error;
optionally it compares greedy continuations and flags the prompts whose continuations diverge.
"""
from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Sequence

import numpy as np
from pydantic import BaseModel, Field, ValidationError

from runtime.errors import ConfigError, PlugrtError
from runtime.gguf.reader import open_gguf
from runtime.gguf.writer import GGUFWriter, TensorSpec
from runtime.ggml_types import GGMLType
from runtime.plugins import registry

log = logging.getLogger(__name__)

#: Percentiles reported for every per-position distribution.
PERCENTILES = (50, 90, 95, 99)
TOP_K_OVERLAP = 5


class Prompt(BaseModel):
    id: str
    category: str = "general"
    text: str


class PromptSet(BaseModel):
    """A versioned prompt list (JSON: ``{"version", "prompts": [{"id", "category", "text"}]}``)."""

    version: str = "builtin"
    prompts: list[Prompt]


BUILTIN_PROMPTS = PromptSet(prompts=[
    Prompt(id="fact-capital", category="factual", text="The capital of France is"),
    Prompt(id="code-python", category="code", text="def fibonacci(n):\n    \"\"\"Return the n-th Fibonacci number.\"\"\"\n"),
    Prompt(id="story", category="prose", text="Once upon a time, in a small village by the sea, there lived"),
    Prompt(id="list", category="prose", text="Three reasons to learn a second language are:\n1."),
])


def load_prompts(path: str | os.PathLike | None) -> PromptSet:
    """The prompt set in ``path`` (a PromptSet JSON object or a plain list of strings); None: built-in."""
    if path is None:
        return BUILTIN_PROMPTS
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise ConfigError(f"{path}: cannot read the prompt file: {e}") from e
    if isinstance(data, list):
        data = {"version": Path(path).name, "prompts": [{"id": f"p{i}", "text": t} for i, t in enumerate(data)]}
    try:
        prompts = PromptSet.model_validate(data)
    except ValidationError as e:
        raise ConfigError(f"{path}: not a prompt set: {e}") from e
    if not prompts.prompts:
        raise ConfigError(f"{path}: the prompt set is empty")
    return prompts


# -- per-position metrics ---------------------------------------------------------------------------
class PositionMetrics(BaseModel):
    """One value per position for each metric (lists, so the report serializes)."""

    rel_err: list[float]
    kl: list[float]
    top1: list[bool]
    top5_overlap: list[float]


def _log_softmax(x: np.ndarray) -> np.ndarray:
    x = x.astype(np.float64)
    x = x - x.max(axis=-1, keepdims=True)
    return x - np.log(np.exp(x).sum(axis=-1, keepdims=True))


def _top_k(x: np.ndarray, k: int) -> np.ndarray:
    return np.argpartition(-x, k - 1, axis=-1)[:, :k]


def logit_metrics(tested: np.ndarray, reference: np.ndarray) -> PositionMetrics:
    """Compare logits [positions, vocab]: relative L2 error ||t - r|| / ||r||, KL(P_ref || P_test)
    in nats, whether the argmax agrees, and the shared fraction of the top-5 token sets."""
    if tested.shape != reference.shape:
        raise PlugrtError(f"logits of shape {tested.shape} and {reference.shape} cannot be compared "
                          "(do the models share a vocabulary?)")
    t, r = tested.astype(np.float64), reference.astype(np.float64)
    rel = np.linalg.norm(t - r, axis=-1) / np.maximum(np.linalg.norm(r, axis=-1), 1e-30)
    log_p, log_q = _log_softmax(r), _log_softmax(t)
    kl = np.maximum((np.exp(log_p) * (log_p - log_q)).sum(axis=-1), 0.0)
    top1 = t.argmax(axis=-1) == r.argmax(axis=-1)
    k = min(TOP_K_OVERLAP, t.shape[-1])
    overlap = [len(set(a) & set(b)) / k for a, b in zip(_top_k(t, k), _top_k(r, k))]
    return PositionMetrics(rel_err=rel.tolist(), kl=kl.tolist(), top1=top1.tolist(), top5_overlap=overlap)


class Distribution(BaseModel):
    mean: float
    max: float
    percentiles: dict[str, float] = Field(description='"p50", "p90", ... of the per-position values')

    @classmethod
    def of(cls, values: Sequence[float]) -> "Distribution":
        v = np.asarray(values, dtype=np.float64)
        return cls(mean=float(v.mean()), max=float(v.max()),
                   percentiles={f"p{p}": float(np.percentile(v, p)) for p in PERCENTILES})


# -- greedy continuations ---------------------------------------------------------------------------
def continue_greedy(model, logits: np.ndarray, n: int) -> list[int]:
    """Up to ``n`` argmax tokens from ``logits`` of the last token the runner holds."""
    info = model.tokenizer.info
    end = {i for i in (info.eos_id, info.eot_id) if i is not None}
    out: list[int] = []
    while len(out) < n:
        out.append(int(np.argmax(logits)))
        if out[-1] in end or len(out) == n:
            break
        logits = model.runner.forward_last([out[-1]])
    return out


def common_prefix(a: Sequence[int], b: Sequence[int]) -> int:
    n = 0
    for x, y in zip(a, b):
        if x != y:
            break
        n += 1
    return n


class GreedyComparison(BaseModel):
    tested: list[int]
    reference: list[int]
    tested_text: str
    reference_text: str
    agreed_tokens: int = Field(description="length of the common prefix")

    @property
    def agrees(self) -> bool:
        """Both continuations are the same (same tokens, same end)."""
        return self.tested == self.reference


# -- the report -------------------------------------------------------------------------------------
class PromptResult(BaseModel):
    id: str
    category: str
    n_tokens: int
    rel_err_mean: float
    kl_mean: float
    top1_agreement: float
    top5_overlap: float
    greedy: GreedyComparison | None = None


class ValidationReport(BaseModel):
    model: str
    device: str
    reference: str = Field(description='"f32" (the same file dequantized, CPU float32) or a GGUF path')
    prompt_set: str
    n_positions: int
    rel_err: Distribution
    kl_divergence: Distribution
    top1_agreement: float = Field(description="fraction of positions whose argmax agrees")
    top5_overlap: float = Field(description="mean shared fraction of the top-5 token sets")
    n_generate: int = 0
    prompts: list[PromptResult]

    @property
    def diverging(self) -> list[PromptResult]:
        """Prompts whose greedy continuations differ."""
        return [p for p in self.prompts if p.greedy is not None and not p.greedy.agrees]

    @property
    def greedy_agreement(self) -> float | None:
        """Fraction of prompts whose greedy continuations are identical (None without --generate)."""
        compared = [p for p in self.prompts if p.greedy is not None]
        return None if not compared else 1.0 - len(self.diverging) / len(compared)


def encode(model, text: str) -> list[int]:
    ids = model.tokenizer.encode(text)
    limit = model.runner.context_length
    if len(ids) > limit:
        log.warning("prompt of %d tokens cut to the context length %d", len(ids), limit)
    return ids[:limit]


def compare_models(tested, reference, prompts: PromptSet, *, n_generate: int = 0, model_label: str = "",
                   reference_label: str = "f32") -> ValidationReport:
    """Run every prompt through both loaded models (:class:`runtime.model.Model`) and compare."""
    results, merged = [], []
    for prompt in prompts.prompts:
        ids = encode(tested, prompt.text)
        tested_logits = tested.logits(ids)
        if n_generate:  # the runner still holds the prompt: continue from its last logits
            t = continue_greedy(tested, tested_logits[-1], n_generate)
        reference_logits = reference.logits(ids)
        if n_generate:
            r = continue_greedy(reference, reference_logits[-1], n_generate)
        m = logit_metrics(tested_logits, reference_logits)
        merged.append(m)
        greedy = None
        if n_generate:
            greedy = GreedyComparison(tested=t, reference=r, agreed_tokens=common_prefix(t, r),
                                      tested_text=tested.tokenizer.decode(t),
                                      reference_text=reference.tokenizer.decode(r))
        results.append(PromptResult(id=prompt.id, category=prompt.category, n_tokens=len(ids),
                                    rel_err_mean=float(np.mean(m.rel_err)), kl_mean=float(np.mean(m.kl)),
                                    top1_agreement=float(np.mean(m.top1)),
                                    top5_overlap=float(np.mean(m.top5_overlap)), greedy=greedy))
        log.info("%s: %d tokens, KL %.3g, top-1 %.3f", prompt.id, len(ids), results[-1].kl_mean,
                 results[-1].top1_agreement)
    flat = lambda key: [v for m in merged for v in getattr(m, key)]  # noqa: E731
    return ValidationReport(
        model=model_label, device=tested.info.backend, reference=reference_label, prompt_set=prompts.version,
        n_positions=len(flat("kl")), rel_err=Distribution.of(flat("rel_err")),
        kl_divergence=Distribution.of(flat("kl")), top1_agreement=float(np.mean(flat("top1"))),
        top5_overlap=float(np.mean(flat("top5_overlap"))), n_generate=n_generate, prompts=results)


def validate(model_path: str | os.PathLike, *, reference: str = "f32", prompts: str | os.PathLike | None = None,
             device: str = "auto", n_generate: int = 0, context_length: int | None = None) -> ValidationReport:
    """Load ``model_path`` on ``device`` and its reference on the CPU, then :func:`compare_models`.

    reference: ``"f32"`` (the same file, every weight dequantized to float32 by the CPU backend)
    or the path of another GGUF of the same model and vocabulary.
    """
    import runtime

    tested = runtime.load(model_path, device=device, context_length=context_length)
    reference_path = model_path if reference == "f32" else reference
    ref = runtime.load(reference_path, device="cpu", context_length=context_length)
    return compare_models(tested, ref, load_prompts(prompts), n_generate=n_generate,
                          model_label=str(model_path), reference_label=str(reference))


def format_report(report: ValidationReport) -> str:
    """A llama.cpp-style text summary."""
    lines = [f"model      {report.model} on {report.device}",
             f"reference  {report.reference} (cpu, float32)",
             f"prompts    {len(report.prompts)} ({report.prompt_set}), {report.n_positions} positions", "",
             f"{'':<14}{'mean':>11}{'max':>11}" + "".join(f"{p:>11}" for p in report.rel_err.percentiles)]
    for name, d in (("rel. error", report.rel_err), ("KL (nats)", report.kl_divergence)):
        lines.append(f"{name:<14}{d.mean:>11.4g}{d.max:>11.4g}" + "".join(f"{v:>11.4g}" for v in d.percentiles.values()))
    lines += ["", f"top-1 agreement {100 * report.top1_agreement:.2f}%   "
                  f"top-5 overlap {100 * report.top5_overlap:.2f}%"]
    if report.n_generate:
        agree = len(report.prompts) - len(report.diverging)
        lines.append(f"greedy, {report.n_generate} tokens: {agree}/{len(report.prompts)} prompts agree")
        for p in report.diverging:
            g = p.greedy
            lines.append(f"  DIVERGES {p.id} ({p.category}) after {g.agreed_tokens} tokens:\n"
                         f"    tested    {g.tested_text!r}\n    reference {g.reference_text!r}")
    return "\n".join(lines)


# -- a dequantized copy ------------------------------------------------------------------------------
def write_dequantized(src: str | os.PathLike, dst: str | os.PathLike) -> Path:
    """Copy a GGUF with every tensor dequantized to F32 (same metadata, same names): the
    reference model as a file, e.g. to run it on another device."""
    reg = registry()
    gguf = open_gguf(src)
    writer = GGUFWriter()
    for key, value in gguf.metadata.items():
        if key != "general.alignment":
            writer.add(key, value)
    for info in gguf.tensors.values():
        fmt = reg.quant_format(info.ggml_type)

        def data(info=info, fmt=fmt):
            raw = np.asarray(gguf.raw(info.name), dtype=np.uint8)
            rows = raw.reshape(*info.shape[:-1], fmt.row_bytes(info.shape[-1]))
            return np.ascontiguousarray(fmt.dequantize(rows), dtype=np.float32)
        writer.add_tensor(TensorSpec(info.name, info.shape, GGMLType.F32, data))
    writer.write(dst)
    gguf.close()
    return Path(dst)
