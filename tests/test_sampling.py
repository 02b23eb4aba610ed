"""Sampling: filters on hand-computed distributions, llama.cpp penalties, greedy, seeds."""
import numpy as np
import pytest
from pydantic import ValidationError

from runtime.engine.sampling import (Sampler, SamplingParams, apply_penalties, filter_min_p, filter_top_k,
                                     filter_top_p, softmax)
from runtime.errors import GenerationError

PROBS = np.array([0.5, 0.3, 0.15, 0.05], dtype=np.float32)
LOGITS = np.log(PROBS)


def kept(logits: np.ndarray) -> list[int]:
    return [int(i) for i in np.flatnonzero(np.isfinite(logits))]


def test_params_defaults_and_validation():
    p = SamplingParams(stop="END")
    assert p.stop == ["END"] and p.temperature == 1.0 and p.top_p == 1.0 and p.top_k == 0
    with pytest.raises(ValidationError):
        SamplingParams(temperature=-0.1)
    with pytest.raises(ValidationError):
        SamplingParams(top_p=0.0)
    with pytest.raises(ValidationError):
        SamplingParams(tempreature=0.5)  # typo: unknown keys are refused


def test_top_k_keeps_the_k_largest():
    assert kept(filter_top_k(np.array([1.0, 3.0, 2.0, 0.0], np.float32), 2)) == [1, 2]
    assert kept(filter_top_k(LOGITS, 0)) == [0, 1, 2, 3]


@pytest.mark.parametrize("p, expected", [(0.4, [0]), (0.5, [0]), (0.79, [0, 1]), (0.8, [0, 1]),
                                         (0.81, [0, 1, 2]), (0.96, [0, 1, 2, 3])])
def test_top_p_keeps_the_token_that_crosses_p(p, expected):
    # cumulative mass 0.5, 0.8, 0.95, 1.0: keep tokens whose mass *before* them is below p
    assert kept(filter_top_p(LOGITS, p)) == expected


@pytest.mark.parametrize("min_p, expected", [(0.2, [0, 1, 2]), (0.5, [0, 1]), (0.61, [0]), (0.09, [0, 1, 2, 3])])
def test_min_p_is_relative_to_the_top_probability(min_p, expected):
    assert kept(filter_min_p(LOGITS, min_p)) == expected


def test_top_p_shortcut_matches_a_full_sort_on_a_large_vocab():
    rng = np.random.default_rng(1)
    for scale in (0.1, 1.0, 8.0):  # flat (needs the full sort) to peaked (top candidates suffice)
        logits = (rng.standard_normal(5000) * scale).astype(np.float32)
        probs = softmax(logits)
        order = np.argsort(-probs, kind="stable")
        before = np.cumsum(probs[order]) - probs[order]
        expected = sorted(order[before < 0.9].tolist())
        assert kept(filter_top_p(logits, 0.9)) == expected


def test_distribution_combines_temperature_and_filters():
    sampler = Sampler(SamplingParams(temperature=0.5, top_k=3, min_p=0.2))
    # temperature 0.5 squares the probabilities: .25, .09, .0225, .0025 (unnormalised)
    squared = PROBS.astype(np.float64) ** 2
    after_top_k = squared[:3] / squared[:3].sum()
    keep = after_top_k >= 0.2 * after_top_k.max()
    expected = np.zeros(4)
    expected[:3][keep] = after_top_k[keep] / after_top_k[keep].sum()
    np.testing.assert_allclose(sampler.distribution(LOGITS, []), expected, atol=1e-6)


def test_penalties_follow_llama_cpp():
    logits = np.array([2.0, -1.0, 0.5, 3.0], np.float32)
    params = SamplingParams(repetition_penalty=2.0, frequency_penalty=0.5, presence_penalty=0.25)
    out = apply_penalties(logits, [0, 1, 1], params)
    # token 0 seen once, positive: 2/2 - 0.5 - 0.25; token 1 seen twice, negative: -1*2 - 2*0.5 - 0.25
    np.testing.assert_allclose(out, [0.25, -3.25, 0.5, 3.0], atol=1e-6)
    assert logits[0] == 2.0  # the input row is not modified


def test_penalty_window_counts_the_last_n_context_tokens():
    logits = np.zeros(4, np.float32)
    last_two = apply_penalties(logits, [3, 0, 1], SamplingParams(presence_penalty=1.0, penalty_last_n=2))
    np.testing.assert_array_equal(last_two, [-1, -1, 0, 0])
    whole = apply_penalties(logits, [3, 0, 1], SamplingParams(presence_penalty=1.0, penalty_last_n=-1))
    np.testing.assert_array_equal(whole, [-1, -1, 0, -1])
    off = apply_penalties(logits, [3, 0, 1], SamplingParams(presence_penalty=1.0, penalty_last_n=0))
    np.testing.assert_array_equal(off, [0, 0, 0, 0])


def test_temperature_zero_is_argmax_after_penalties():
    logits = np.array([1.0, 5.0, 4.0], np.float32)
    assert Sampler(SamplingParams(temperature=0))(logits, [1]) == 1
    assert Sampler(SamplingParams(temperature=0, repetition_penalty=2.0))(logits, [1]) == 2


def test_same_seed_same_draws_and_other_seeds_differ():
    logits = np.zeros(1000, np.float32)

    def draws(seed):
        sampler = Sampler(SamplingParams(seed=seed))
        return [sampler(logits, []) for _ in range(20)]

    assert draws(7) == draws(7)
    assert draws(7) != draws(8)


def test_draws_follow_the_distribution():
    sampler = Sampler(SamplingParams(seed=0))
    counts = np.bincount([sampler(LOGITS, []) for _ in range(20000)], minlength=4) / 20000
    np.testing.assert_allclose(counts, PROBS, atol=0.015)


def test_filtered_tokens_are_never_drawn():
    sampler = Sampler(SamplingParams(seed=3, top_k=2))
    assert {sampler(LOGITS, []) for _ in range(500)} == {0, 1}


def test_bad_logits_are_refused():
    with pytest.raises(GenerationError):
        Sampler(SamplingParams())(np.array([0.0, np.nan], np.float32), [])
    with pytest.raises(GenerationError):
        Sampler(SamplingParams())(np.zeros((2, 2), np.float32), [])
