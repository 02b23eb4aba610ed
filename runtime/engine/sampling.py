"""Sampling parameters and the NumPy sampler that turns one row of logits into one token id.

Order of operations (that of HF transformers and vLLM): penalties -> temperature -> top-k -> top-p
-> min-p -> draw. Temperature 0 means greedy: the argmax of the penalized logits.

Penalties follow llama.cpp (``llama_sampler_penalties``): they look at the last
``penalty_last_n`` tokens of the context, prompt and generated tokens alike. For a token seen
``c > 0`` times in that window::

    logit = logit / repetition_penalty   if logit > 0
            logit * repetition_penalty   otherwise
    logit -= c * frequency_penalty + presence_penalty
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator

from runtime.errors import GenerationError

#: top-p first looks among this many most likely tokens before sorting the whole vocabulary.
_TOP_P_CANDIDATES = 1024


class SamplingParams(BaseModel):
    """How to pick each next token and when to stop. Defaults are plain sampling at temperature 1."""

    model_config = ConfigDict(extra="forbid")

    max_tokens: int = Field(256, ge=0, description="generate at most this many tokens")
    temperature: float = Field(1.0, ge=0.0, description="0 = greedy (argmax)")
    top_k: int = Field(0, ge=0, description="keep the k most likely tokens; 0 = off")
    top_p: float = Field(1.0, gt=0.0, le=1.0, description="keep the smallest set of tokens whose mass reaches p")
    min_p: float = Field(0.0, ge=0.0, le=1.0, description="drop tokens less likely than min_p * the top probability")
    repetition_penalty: float = Field(1.0, gt=0.0, description="1 = off; >1 discourages repeats")
    presence_penalty: float = Field(0.0, description="subtracted once from every token in the window")
    frequency_penalty: float = Field(0.0, description="subtracted per occurrence in the window")
    penalty_last_n: int = Field(64, ge=-1, description="penalty window in tokens; -1 = whole context, 0 = off")
    seed: int | None = Field(None, description="same seed, same tokens; None draws fresh entropy")
    stop: list[str] = Field(default_factory=list, description="stop strings, cut from the text")
    stop_token_ids: list[int] = Field(default_factory=list, description="extra token ids that end generation")

    @field_validator("stop", mode="before")
    @classmethod
    def _one_string_is_a_list(cls, value):
        if isinstance(value, str):
            value = [value]
        return [s for s in value if s] if value is not None else []

    @property
    def uses_penalties(self) -> bool:
        return self.penalty_last_n != 0 and (self.repetition_penalty != 1.0 or self.presence_penalty != 0.0
                                             or self.frequency_penalty != 0.0)


def softmax(logits: np.ndarray) -> np.ndarray:
    """Probabilities of a float32 logit row; -inf entries get probability 0."""
    shifted = np.exp(logits - logits.max())
    return shifted / shifted.sum()


def apply_penalties(logits: np.ndarray, context: Sequence[int], params: SamplingParams) -> np.ndarray:
    """llama.cpp repetition/presence/frequency penalties over the last ``penalty_last_n`` context tokens."""
    if not params.uses_penalties or len(context) == 0:
        return logits
    window = context if params.penalty_last_n == -1 else context[-params.penalty_last_n:]
    counts = np.bincount(np.asarray(window, dtype=np.int64), minlength=logits.shape[0])[: logits.shape[0]]
    seen = counts > 0
    out = logits.copy()
    rp = np.float32(params.repetition_penalty)
    out[seen] = np.where(out[seen] > 0, out[seen] / rp, out[seen] * rp)
    out -= (counts * params.frequency_penalty + seen * params.presence_penalty).astype(np.float32)
    return out


def filter_top_k(logits: np.ndarray, k: int) -> np.ndarray:
    """Keep the k highest logits (and any tied with the k-th); the rest become -inf."""
    if k <= 0 or k >= logits.shape[0]:
        return logits
    kth = np.partition(logits, -k)[-k]
    return np.where(logits >= kth, logits, -np.inf).astype(np.float32)


def _descending_order(probs: np.ndarray, mass: float) -> np.ndarray:
    """Token ids by falling probability, at least far enough down to cover ``mass``.

    Sorting 200k probabilities per token is slow, so look among the top candidates first.
    """
    n = probs.shape[0]
    if n > _TOP_P_CANDIDATES:
        top = np.argpartition(probs, -_TOP_P_CANDIDATES)[-_TOP_P_CANDIDATES:]
        top = top[np.argsort(-probs[top], kind="stable")]
        if probs[top].sum() >= mass:
            return top
    return np.argsort(-probs, kind="stable")


def filter_top_p(logits: np.ndarray, p: float) -> np.ndarray:
    """Nucleus filter: keep the most likely tokens until their mass reaches p (the crossing token stays)."""
    if p >= 1.0:
        return logits
    probs = softmax(logits)
    order = _descending_order(probs, p)
    sorted_probs = probs[order]
    mass_before = np.cumsum(sorted_probs) - sorted_probs
    keep = order[mass_before < p]
    out = np.full_like(logits, -np.inf)
    out[keep] = logits[keep]
    return out


def filter_min_p(logits: np.ndarray, min_p: float) -> np.ndarray:
    """Drop tokens whose probability is below ``min_p`` times that of the most likely token."""
    if min_p <= 0.0:
        return logits
    probs = softmax(logits)
    return np.where(probs >= min_p * probs.max(), logits, -np.inf).astype(np.float32)


class Sampler:
    """Picks next tokens for one generation; owns its random generator so a seed replays exactly."""

    def __init__(self, params: SamplingParams):
        self.params = params
        self.rng = np.random.default_rng(params.seed)

    def distribution(self, logits: np.ndarray, context: Sequence[int]) -> np.ndarray:
        """The probabilities the next draw uses (for temperature > 0)."""
        p = self.params
        row = apply_penalties(np.asarray(logits, dtype=np.float32), context, p)
        row = (row / np.float32(p.temperature)).astype(np.float32)
        row = filter_min_p(filter_top_p(filter_top_k(row, p.top_k), p.top_p), p.min_p)
        return softmax(row)

    def __call__(self, logits: np.ndarray, context: Sequence[int]) -> int:
        """Next token id from a logit row of shape (vocab,), given the context so far (for penalties)."""
        row = np.asarray(logits, dtype=np.float32)
        if row.ndim != 1 or np.isnan(row).any() or not np.isfinite(row).any():
            raise GenerationError(f"sampler needs a 1-D logit row without NaN and with a finite entry, "
                                  f"got shape {row.shape}")
        if self.params.temperature == 0.0:
            return int(np.argmax(apply_penalties(row, context, self.params)))
        cdf = np.cumsum(self.distribution(row, context), dtype=np.float64)
        return int(min(np.searchsorted(cdf, self.rng.random() * cdf[-1], side="right"), row.shape[0] - 1))
