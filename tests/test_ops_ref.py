"""The NumPy twins (runtime.ops_ref) against straightforward per-element / per-query formulas."""
from __future__ import annotations

import math

import numpy as np
import pytest

from runtime import ops_ref


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


def _randn(rng, *shape, scale=1.0):
    return (rng.standard_normal(shape) * scale).astype(np.float32)


def test_rms_norm_matches_per_row_formula(rng):
    x, w = _randn(rng, 5, 48), _randn(rng, 48)
    got = ops_ref.rms_norm(x, w, 1e-5)
    for i in range(5):
        inv = 1.0 / math.sqrt(sum(float(v) ** 2 for v in x[i]) / 48 + 1e-5)
        np.testing.assert_allclose(got[i], [float(v) * inv * float(g) for v, g in zip(x[i], w)], rtol=1e-5,
                                   atol=1e-6)
    assert got.dtype == np.float32


def test_layer_norm_matches_per_row_formula(rng):
    x, w, b = _randn(rng, 4, 40, scale=3.0) + 5.0, _randn(rng, 40), _randn(rng, 40)
    got = ops_ref.layer_norm(x, w, b, 1e-5)
    for i in range(4):
        row = [float(v) for v in x[i]]
        mean = sum(row) / len(row)
        var = sum((v - mean) ** 2 for v in row) / len(row)
        want = [(v - mean) / math.sqrt(var + 1e-5) * float(g) + float(c) for v, g, c in zip(row, w, b)]
        np.testing.assert_allclose(got[i], want, rtol=1e-4, atol=1e-5)


def test_gelu_tanh_matches_scalar_formula_and_is_close_to_erf_gelu(rng):
    x = _randn(rng, 200, scale=3.0)
    got = ops_ref.gelu_tanh(x)
    want = [0.5 * v * (1 + math.tanh(math.sqrt(2 / math.pi) * (v + 0.044715 * v ** 3))) for v in x.astype(float)]
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    erf_gelu = [0.5 * v * (1 + math.erf(v / math.sqrt(2))) for v in x.astype(float)]
    np.testing.assert_allclose(got, erf_gelu, atol=2e-3)


def test_add_bias_gelu_is_gelu_of_biased_input(rng):
    x, b = _randn(rng, 3, 16), _randn(rng, 16)
    np.testing.assert_array_equal(ops_ref.add_bias_gelu(x, b), ops_ref.gelu_tanh(x + b))


def test_add_and_add_bias_check_shapes(rng):
    a, b = _randn(rng, 2, 3, 8), _randn(rng, 2, 3, 8)
    np.testing.assert_array_equal(ops_ref.add(a, b), a + b)
    bias = _randn(rng, 8)
    got = ops_ref.add_bias(a, bias)
    assert got[1, 2, 5] == pytest.approx(a[1, 2, 5] + bias[5])
    with pytest.raises(ValueError, match="shapes differ"):
        ops_ref.add(a, b[:, :2])
    with pytest.raises(ValueError, match="bias shape"):
        ops_ref.add_bias(a, bias[:7])


def test_add_position_embedding_gathers_rows(rng):
    x, table = _randn(rng, 3, 6), _randn(rng, 10, 6)
    positions = np.array([7, 0, 7], dtype=np.int32)
    got = ops_ref.add_position_embedding(x, table, positions)
    for i, p in enumerate(positions):
        np.testing.assert_array_equal(got[i], x[i] + table[p])


def test_rope_neox_matches_per_pair_rotation(rng):
    n, h, dh = 3, 2, 8
    x = _randn(rng, n, h, dh)
    positions = np.array([0, 5, 40000], dtype=np.int32)
    inv_freq = (1.0 / 10000 ** (np.arange(0, dh, 2) / dh)).astype(np.float32)
    got = ops_ref.rope_neox(x, positions, inv_freq, 1.25)
    for i in range(n):
        for head in range(h):
            for j in range(dh // 2):
                angle = float(np.float32(positions[i]) * inv_freq[j])
                c, s = math.cos(angle) * 1.25, math.sin(angle) * 1.25
                a, b = float(x[i, head, j]), float(x[i, head, j + dh // 2])
                assert got[i, head, j] == pytest.approx(a * c - b * s, rel=1e-4, abs=1e-5)
                assert got[i, head, j + dh // 2] == pytest.approx(b * c + a * s, rel=1e-4, abs=1e-5)
    np.testing.assert_allclose(got[0], x[0] * 1.25, rtol=1e-6)


def test_rope_neox_scores_depend_only_on_relative_position(rng):
    dh = 16
    q, k = _randn(rng, 1, 1, dh), _randn(rng, 1, 1, dh)
    inv_freq = (1.0 / 10000 ** (np.arange(0, dh, 2) / dh)).astype(np.float32)

    def score(pq, pk):
        rq = ops_ref.rope_neox(q, np.array([pq], np.int32), inv_freq, 1.0)
        rk = ops_ref.rope_neox(k, np.array([pk], np.int32), inv_freq, 1.0)
        return float((rq * rk).sum())

    assert score(10, 3) == pytest.approx(score(107, 100), rel=1e-4)
    assert score(10, 3) != pytest.approx(score(10, 4), rel=1e-4)


def test_kv_store_writes_ring_rows_and_rejects_overflow(rng):
    cap, hkv, dh = 4, 2, 3
    k_cache, v_cache = np.zeros((cap, hkv, dh), np.float32), np.zeros((cap, hkv, dh), np.float32)
    k, v = _randn(rng, 3, hkv, dh), _randn(rng, 3, hkv, dh)
    ops_ref.kv_store(k_cache, v_cache, k, v, np.array([3, 4, 5], np.int32))
    np.testing.assert_array_equal(k_cache[[3, 0, 1]], k)
    np.testing.assert_array_equal(v_cache[[3, 0, 1]], v)
    assert not k_cache[2].any()
    with pytest.raises(ValueError, match="do not fit"):
        ops_ref.kv_store(k_cache, v_cache, _randn(rng, 5, hkv, dh), _randn(rng, 5, hkv, dh),
                         np.arange(5, dtype=np.int32))


def _naive_attention(q, k_hist, v_hist, positions, scale, window, sinks):
    """Per query and head: softmax over the visible keys of the full history, sink logit appended."""
    n, hq, dh = q.shape
    group = hq // k_hist.shape[1]
    out = np.zeros((n, hq, dh))
    for i, t in enumerate(positions):
        first = max(0, t - window + 1) if window else 0
        for h in range(hq):
            keys = k_hist[first:t + 1, h // group].astype(np.float64)
            logits = list(keys @ q[i, h].astype(np.float64) * scale)
            if sinks is not None:
                logits.append(float(sinks[h]))
            logits = np.array(logits)
            p = np.exp(logits - logits.max())
            p /= p.sum()
            out[i, h] = p[:t + 1 - first] @ v_hist[first:t + 1, h // group]
    return out


def _ring_cache(k_hist, v_hist, cap, upto):
    """A cache of ``cap`` rows holding the last ``cap`` positions before ``upto``, at row p % cap."""
    k_cache = np.full((cap, *k_hist.shape[1:]), np.nan, np.float32)
    v_cache = np.full_like(k_cache, np.nan)
    for p in range(max(0, upto - cap), upto):
        k_cache[p % cap], v_cache[p % cap] = k_hist[p], v_hist[p]
    return k_cache, v_cache


@pytest.mark.parametrize(
    "hq, hkv, n, start, window, cap, with_sinks",
    [
        (4, 4, 9, 0, 0, 9, False),  # MHA prefill, full attention
        (8, 2, 12, 0, 0, 20, True),  # GQA prefill with sinks, cache larger than needed
        (8, 2, 12, 0, 5, 20, True),  # sliding window shorter than the prompt
        (8, 2, 1, 30, 5, 6, True),  # decode in a ring cache of window + 1 rows
        (8, 2, 3, 30, 5, 8, True),  # several new tokens into a ring
        (6, 1, 4, 10, 0, 14, False),  # chunked prefill after cached tokens, one kv head
    ])
def test_attention_matches_naive_softmax(rng, hq, hkv, n, start, window, cap, with_sinks):
    dh = 8
    total = start + n
    k_hist, v_hist = _randn(rng, total, hkv, dh), _randn(rng, total, hkv, dh)
    q = _randn(rng, n, hq, dh)
    sinks = _randn(rng, hq, scale=2.0) if with_sinks else None
    positions = np.arange(start, total, dtype=np.int32)
    k_cache, v_cache = _ring_cache(k_hist, v_hist, cap, total)
    if window == 0:  # a full cache holds every position; make the unused rows finite
        k_cache, v_cache = np.nan_to_num(k_cache), np.nan_to_num(v_cache)
    got = ops_ref.attention(q, k_cache, v_cache, positions, 0.35, window, sinks)
    want = _naive_attention(q, k_hist, v_hist, positions, 0.35, window, sinks)
    assert got.shape == (n, hq, dh) and got.dtype == np.float32
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)


def test_attention_sink_only_shrinks_the_output(rng):
    q, k, v = _randn(rng, 1, 2, 4), _randn(rng, 3, 1, 4), _randn(rng, 3, 1, 4)
    pos = np.array([2], np.int32)
    plain = ops_ref.attention(q, k, v, pos, 1.0, 0, None)
    huge_sink = ops_ref.attention(q, k, v, pos, 1.0, 0, np.array([30.0, -30.0], np.float32))
    assert np.abs(huge_sink[0, 0]).max() < 1e-6
    np.testing.assert_allclose(huge_sink[0, 1], plain[0, 1], rtol=1e-5)


def test_moe_router_ties_pick_lower_index_and_weights_softmax():
    logits = np.array([[1.0, 3.0, 3.0, 0.5, 3.0, -1.0],
                       [0.0, 0.0, 0.0, 0.0, 0.0, 0.0]], np.float32)
    ids, weights = ops_ref.moe_router(logits, 3)
    np.testing.assert_array_equal(ids, [[1, 2, 4], [0, 1, 2]])
    np.testing.assert_allclose(weights, np.full((2, 3), 1 / 3), rtol=1e-6)
    assert ids.dtype == np.int32 and weights.dtype == np.float32


def test_moe_router_matches_naive_selection(rng):
    logits = _randn(rng, 6, 32)
    ids, weights = ops_ref.moe_router(logits, 4)
    for i in range(6):
        order = sorted(range(32), key=lambda e: (-logits[i, e], e))[:4]
        top = np.array([float(logits[i, e]) for e in order])
        np.testing.assert_array_equal(ids[i], order)
        np.testing.assert_allclose(weights[i], np.exp(top) / np.exp(top).sum(), rtol=1e-5)


@pytest.mark.parametrize("tile", [1, 3, 64])
def test_expert_tiles_cover_each_valid_pair_once_in_tiles_of_one_expert(rng, tile):
    ids = rng.integers(-1, 9, size=(40, 2)).astype(np.int32)  # experts 0..7; -1 and 8 invalid
    sorted_pairs, tiles = ops_ref.expert_tiles(ids, 8, tile)
    flat = ids.reshape(-1)
    used = [(e, first, n) for e, first, n, _ in tiles if n]
    assert all(1 <= n <= tile and set(flat[sorted_pairs[first:first + n]]) == {e} for e, first, n in used)
    assert sorted(p for _, first, n in used for p in sorted_pairs[first:first + n]) == \
        [p for p in range(flat.size) if 0 <= flat[p] < 8]
    assert [e for e, _, _ in used] == sorted(e for e, _, _ in used)  # expert order, empty rows last
    assert not tiles[len(used):].any() and len(tiles) >= len(used)


def test_swiglu_oai_matches_scalar_formula_with_clamps(rng):
    gate, up = _randn(rng, 50, scale=6.0), _randn(rng, 50, scale=6.0)
    gate[0], up[0] = 20.0, -20.0
    got = ops_ref.swiglu_oai(gate, up)
    for g, u, y in zip(gate.astype(float), up.astype(float), got):
        g, u = min(g, 7.0), min(max(u, -7.0), 7.0)
        assert y == pytest.approx((u + 1) * g / (1 + math.exp(-1.702 * g)), rel=1e-5, abs=1e-6)
    assert got[0] == pytest.approx(-6 * 7 / (1 + math.exp(-1.702 * 7)), rel=1e-5)


def test_moe_combine_is_weighted_sum(rng):
    y, w = _randn(rng, 2, 3, 5), _randn(rng, 2, 3)
    got = ops_ref.moe_combine(y, w)
    for i in range(2):
        np.testing.assert_allclose(got[i], sum(w[i, j] * y[i, j] for j in range(3)), rtol=1e-5, atol=1e-6)


def test_argmax_first_of_ties():
    logits = np.array([[0.0, 2.0, 2.0], [5.0, -1.0, 5.0], [-3.0, -2.0, -9.0]], np.float32)
    got = ops_ref.argmax(logits)
    np.testing.assert_array_equal(got, [1, 0, 1])
    assert got.dtype == np.int32


def test_split_columns_cuts_contiguous_pieces(rng):
    x = _randn(rng, 3, 10)
    q, k, v = ops_ref.split_columns(x, (6, 2, 2))
    for piece, want in zip((q, k, v), (x[:, :6], x[:, 6:8], x[:, 8:])):
        assert piece.flags.c_contiguous and np.array_equal(piece, want)
    with pytest.raises(ValueError, match="do not add up to 10"):
        ops_ref.split_columns(x, (6, 2, 1))
