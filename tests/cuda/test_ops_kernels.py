"""Every CUDA op (runtime.cuda.ops) against its NumPy twin (runtime.ops_ref) on random data."""
from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("pycuda")
gpuarray = pytest.importorskip("pycuda.gpuarray")

from runtime import ops_ref  # noqa: E402
from runtime.cuda import device  # noqa: E402

pytestmark = pytest.mark.cuda

# gpt-oss-20b
D_MODEL, HQ, HKV, DH, WINDOW, EXPERTS, TOP_K, VOCAB = 2880, 64, 8, 64, 128, 32, 4, 201088


@pytest.fixture(scope="module")
def ops():
    if not device.available():
        pytest.skip("no usable CUDA device")
    from runtime.cuda import ops as cuda_ops

    return cuda_ops


@pytest.fixture
def rng():
    return np.random.default_rng(7)


def _randn(rng, *shape, scale=1.0):
    return (rng.standard_normal(shape) * scale).astype(np.float32)


def _gpu(a):
    return gpuarray.to_gpu(np.ascontiguousarray(a))


def _rel_err(got, want) -> float:
    return float(np.max(np.abs(got - want)) / max(np.max(np.abs(want)), 1e-30))


@pytest.mark.parametrize("n, d", [(1, D_MODEL), (7, D_MODEL), (3, 768), (2, 100)])
def test_rms_norm(ops, rng, n, d):
    x, w = _randn(rng, n, d, scale=3.0), _randn(rng, d)
    got = ops.rms_norm(_gpu(x), _gpu(w), 1e-5).get()
    assert _rel_err(got, ops_ref.rms_norm(x, w, 1e-5)) <= 1e-4


@pytest.mark.parametrize("n, d", [(1, D_MODEL), (6, D_MODEL), (2, 100)])
def test_add_rms_norm(ops, rng, n, d):
    x, y, w = _randn(rng, n, d, scale=3.0), _randn(rng, n, d), _randn(rng, d)
    total, normed = ops.add_rms_norm(_gpu(x), _gpu(y), _gpu(w), 1e-5)
    np.testing.assert_array_equal(total.get(), x + y)
    assert _rel_err(normed.get(), ops_ref.rms_norm(x + y, w, 1e-5)) <= 1e-4
    assert getattr(normed, ops.INT8_ATTRIBUTE, None) is None
    if d % 32 == 0:
        _, quantized = ops.add_rms_norm(_gpu(x), _gpu(y), _gpu(w), 1e-5, quantize=True)
        q, ds = getattr(quantized, ops.INT8_ATTRIBUTE)
        want_q, want_ds = ops_ref.quantize_q8(quantized.get())
        np.testing.assert_array_equal(q.get(), want_q)
        np.testing.assert_allclose(ds.get(), want_ds, rtol=1e-6, atol=0)


@pytest.mark.parametrize("n, d", [(1, 768), (5, 768), (2, D_MODEL)])
def test_layer_norm(ops, rng, n, d):
    x, w, b = _randn(rng, n, d, scale=2.0) + 4.0, _randn(rng, d), _randn(rng, d)
    got = ops.layer_norm(_gpu(x), _gpu(w), _gpu(b), 1e-5).get()
    assert _rel_err(got, ops_ref.layer_norm(x, w, b, 1e-5)) <= 1e-4


def test_norm_in_place(ops, rng):
    x, w = _randn(rng, 3, D_MODEL), _randn(rng, D_MODEL)
    x_gpu = _gpu(x)
    ops.rms_norm(x_gpu, _gpu(w), 1e-5, out=x_gpu)
    assert _rel_err(x_gpu.get(), ops_ref.rms_norm(x, w, 1e-5)) <= 1e-4


def test_elementwise_ops(ops, rng):
    x, y, b = _randn(rng, 5, 3072, scale=3.0), _randn(rng, 5, 3072), _randn(rng, 3072)
    assert _rel_err(ops.gelu_tanh(_gpu(x)).get(), ops_ref.gelu_tanh(x)) <= 1e-4
    assert _rel_err(ops.add_bias_gelu(_gpu(x), _gpu(b)).get(), ops_ref.add_bias_gelu(x, b)) <= 1e-4
    assert _rel_err(ops.add(_gpu(x), _gpu(y)).get(), ops_ref.add(x, y)) <= 1e-6
    assert _rel_err(ops.add_bias(_gpu(x), _gpu(b)).get(), ops_ref.add_bias(x, b)) <= 1e-6


@pytest.mark.parametrize("n", [1, 5])
def test_split_columns(ops, rng, n):
    x = _randn(rng, n, 5120)
    pieces = ops.split_columns(_gpu(x), (4096, 512, 512))
    for got, want in zip(pieces, ops_ref.split_columns(x, (4096, 512, 512))):
        assert got.shape == want.shape
        np.testing.assert_array_equal(got.get(), want)


def test_add_position_embedding(ops, rng):
    x, table = _randn(rng, 6, 768), _randn(rng, 1024, 768)
    positions = np.array([0, 1, 2, 500, 1023, 7], np.int32)
    got = ops.add_position_embedding(_gpu(x), _gpu(table), _gpu(positions)).get()
    assert _rel_err(got, ops_ref.add_position_embedding(x, table, positions)) <= 1e-6


def test_swiglu_oai_and_moe_combine(ops, rng):
    gate, up = _randn(rng, 3, TOP_K, D_MODEL, scale=6.0), _randn(rng, 3, TOP_K, D_MODEL, scale=6.0)
    got = ops.swiglu_oai(_gpu(gate), _gpu(up)).get()
    assert _rel_err(got, ops_ref.swiglu_oai(gate, up)) <= 1e-4
    y, w = _randn(rng, 3, TOP_K, D_MODEL), _randn(rng, 3, TOP_K)
    assert _rel_err(ops.moe_combine(_gpu(y), _gpu(w)).get(), ops_ref.moe_combine(y, w)) <= 1e-5


@pytest.mark.parametrize("heads", [HQ, 12])
def test_rope_neox_at_large_positions(ops, rng, heads):
    x = _randn(rng, 5, heads, DH)
    positions = np.array([0, 1, 4095, 70000, 131071], np.int32)
    inv_freq = (1.0 / 150000 ** (np.arange(0, DH, 2) / DH) / np.linspace(1, 32, DH // 2)).astype(np.float32)
    x_gpu = _gpu(x)
    ops.rope_neox(x_gpu, _gpu(positions), _gpu(inv_freq), 1.3466, out=x_gpu)  # in place
    assert _rel_err(x_gpu.get(), ops_ref.rope_neox(x, positions, inv_freq, 1.3466)) <= 1e-4


def test_kv_store_ring(ops, rng):
    cap = WINDOW + 8
    k_cache, v_cache = _randn(rng, cap, HKV, DH), _randn(rng, cap, HKV, DH)
    k, v = _randn(rng, 20, HKV, DH), _randn(rng, 20, HKV, DH)
    positions = np.arange(cap - 10, cap + 10, dtype=np.int32)
    k_gpu, v_gpu = _gpu(k_cache), _gpu(v_cache)
    ops.kv_store(k_gpu, v_gpu, _gpu(k), _gpu(v), _gpu(positions))
    ops_ref.kv_store(k_cache, v_cache, k, v, positions)
    np.testing.assert_array_equal(k_gpu.get(), k_cache)
    np.testing.assert_array_equal(v_gpu.get(), v_cache)


# The tensor-core kernel rounds Q, K, V and the probabilities to tf32 (11 significant bits); the
# fp32 kernel's bar is 1e-3.
TF32_ATTENTION_TOL = 3e-3


def _check_attention(ops, rng, n, start, hq, hkv, window, cap, with_sinks, tensor_cores=None, dh=DH):
    k_cache, v_cache = _randn(rng, cap, hkv, dh), _randn(rng, cap, hkv, dh)
    q = _randn(rng, n, hq, dh, scale=2.0)
    sinks = _randn(rng, hq, scale=2.0) if with_sinks else None
    positions = np.arange(start, start + n, dtype=np.int32)
    scale = dh ** -0.5
    got = ops.attention(_gpu(q), _gpu(k_cache), _gpu(v_cache), _gpu(positions), scale, window,
                        _gpu(sinks) if with_sinks else None, tensor_cores=tensor_cores).get()
    want = ops_ref.attention(q, k_cache, v_cache, positions, scale, window, sinks)
    assert np.isfinite(got).all()
    on_tensor_cores = ops.attention_on_tensor_cores(n, hq // hkv, hkv) if tensor_cores is None else tensor_cores
    assert _rel_err(got, want) <= (TF32_ATTENTION_TOL if on_tensor_cores else 1e-3)


@pytest.mark.parametrize("tensor_cores", [False, True])
@pytest.mark.parametrize("n", [1, 5, 127, 128, 129, 300])
@pytest.mark.parametrize("window", [0, WINDOW])
def test_attention_prefill_gqa_with_sinks(ops, rng, n, window, tensor_cores):
    _check_attention(ops, rng, n, 0, HQ, HKV, window, n if window == 0 else WINDOW + n, True, tensor_cores)


@pytest.mark.parametrize("tensor_cores", [False, True])
@pytest.mark.parametrize("n, start", [(1, 0), (64, 0), (300, 0), (40, 200)])
def test_attention_mha_gpt2(ops, rng, n, start, tensor_cores):
    _check_attention(ops, rng, n, start, 12, 12, 0, 1024, False, tensor_cores)


@pytest.mark.parametrize("tensor_cores", [False, True])
def test_attention_chunked_prefill_in_ring(ops, rng, tensor_cores):
    _check_attention(ops, rng, 100, 1000, HQ, HKV, WINDOW, WINDOW + 100, True, tensor_cores)


@pytest.mark.parametrize("window", [0, WINDOW])
def test_attention_gpt_oss_prefill_of_2048_runs_on_tensor_cores(ops, rng, window):
    assert ops.attention_on_tensor_cores(2048, HQ // HKV, HKV) and not ops.attention_on_tensor_cores(1, 8, HKV)
    _check_attention(ops, rng, 2048, 0, HQ, HKV, window, 2048 if window == 0 else WINDOW + 2048, True)


@pytest.mark.parametrize("n, start, window", [(200, 0, 0), (77, 500, 0), (150, 30, 64)])
def test_attention_dh128_on_tensor_cores(ops, rng, n, start, window):
    _check_attention(ops, rng, n, start, 8, 2, window, start + n, False, True, dh=128)


@pytest.mark.parametrize("kv_len", [1, 127, 128, 129, 4096, 40000])
@pytest.mark.parametrize("sliding", [False, True])
def test_attention_decode(ops, rng, kv_len, sliding):
    cap = WINDOW + 1 if sliding else kv_len + 3
    _check_attention(ops, rng, 1, kv_len - 1, HQ, HKV, WINDOW if sliding else 0, cap, True)


@pytest.mark.parametrize("kv_len", [1, 70, 300])
def test_attention_decode_early_in_a_long_cache(ops, rng, kv_len):
    """Few keys against a cache sized for many: most key splits get no key."""
    _check_attention(ops, rng, 1, kv_len - 1, HQ, HKV, 0, 40000, True)


@pytest.mark.parametrize("kv_len", [1, 4096])
def test_attention_decode_mha_and_dh128(ops, rng, kv_len):
    _check_attention(ops, rng, 1, kv_len - 1, 12, 12, 0, kv_len, False)
    k_cache, v_cache = _randn(rng, kv_len, 2, 128), _randn(rng, kv_len, 2, 128)
    q = _randn(rng, 2, 8, 128)
    positions = np.array([kv_len - 2, kv_len - 1], np.int32) if kv_len > 1 else np.zeros(2, np.int32)
    got = ops.attention(_gpu(q), _gpu(k_cache), _gpu(v_cache), _gpu(positions), 128 ** -0.5, 0).get()
    assert _rel_err(got, ops_ref.attention(q, k_cache, v_cache, positions, 128 ** -0.5, 0)) <= 1e-3


def test_moe_router_with_ties(ops, rng):
    logits = np.round(_randn(rng, 64, EXPERTS, scale=2.0))  # many exact ties
    ids, weights = ops.moe_router(_gpu(logits), TOP_K)
    want_ids, want_weights = ops_ref.moe_router(logits, TOP_K)
    np.testing.assert_array_equal(ids.get(), want_ids)
    assert _rel_err(weights.get(), want_weights) <= 1e-5


@pytest.mark.parametrize("n_tok, tile", [(1, 128), (300, 128), (2048, 128), (513, 64)])
def test_expert_tiles(ops, rng, n_tok, tile):
    """The routing table of the grouped expert products: the reference's tiles exactly, and within
    each expert the same pairs (the kernel keeps no order there); invalid ids in no tile."""
    ids = np.stack([rng.choice(EXPERTS, TOP_K, replace=False) for _ in range(n_tok)]).astype(np.int32)
    ids[n_tok // 2, 0], ids[-1, -1] = -1, EXPERTS
    got_sorted, got_tiles = (a.get() for a in ops.expert_tiles(_gpu(ids), EXPERTS, tile))
    want_sorted, want_tiles = ops_ref.expert_tiles(ids, EXPERTS, tile)
    np.testing.assert_array_equal(got_tiles, want_tiles)
    counts = np.bincount(ids[(ids >= 0) & (ids < EXPERTS)], minlength=EXPERTS)
    for first, count in zip(np.cumsum(counts) - counts, counts):
        assert sorted(got_sorted[first:first + count]) == sorted(want_sorted[first:first + count])
    assert len(want_sorted) == ids.size - 2 and got_sorted.shape == (ids.size,)


def test_routing_table_made_once_per_ids_until_they_are_written(ops, rng):
    ids = _gpu(np.stack([rng.choice(EXPERTS, TOP_K, replace=False) for _ in range(300)]).astype(np.int32))
    table = ops.routing_table(ids, EXPERTS, 128)
    assert ops.routing_table(ids, EXPERTS, 128) is table and ops.routing_table(ids, EXPERTS, 64) is not table
    ops.forget_derived(ids)
    assert ops.routing_table(ids, EXPERTS, 128) is not table


def test_argmax_large_vocab_with_ties(ops, rng):
    logits = _randn(rng, 3, VOCAB)
    logits[0, [17, 200000]] = 50.0
    logits[1, [150000, 9]] = 60.0
    got = ops.argmax(_gpu(logits)).get()
    np.testing.assert_array_equal(got, ops_ref.argmax(logits))
    assert list(got[:2]) == [17, 9]


def test_read_bytes_reads_every_piece_it_is_given(ops):
    """read_bytes (the benchmarks' read floor) reads every 16-byte piece of its range and none past
    it: each thread folds the 32-bit words it reads by xor and writes the sink when that is the
    marker, so a lone marker word is seen wherever it sits, and not when the range stops before it."""
    marker = 0x9E3779B9
    n_pieces = 4 * 132 * 8 * 256 * 3 + 5  # several grid strides of an H100/H200 and a ragged end
    for at in (0, 1234567, 4 * n_pieces - 1):
        words = np.zeros(4 * n_pieces, np.uint32)
        words[at] = marker
        data = _gpu(words)
        sink = _gpu(np.zeros(1, np.uint32))
        ops.read_bytes(int(data.gpudata), 16 * (at // 4), sink)  # up to the marker's piece
        assert int(sink.get()[0]) == 0, at
        ops.read_bytes(int(data.gpudata), words.nbytes, sink)
        assert int(sink.get()[0]) == marker, at
    with pytest.raises(ValueError, match="16-byte alignment"):
        ops.read_bytes(int(data.gpudata) + 4, 64, sink)
