"""Fuzzing the GGUF reader: deterministic mutation sweeps plus hypothesis properties.

Every malformed file must either load (and then every tensor's bytes must be readable) or
raise GGUFFormatError: any other exception fails. Each open must finish within 2 s, and the
peak memory it allocates (tracemalloc, which also sees NumPy buffers) must stay below
``MEMORY_FACTOR * file size + MEMORY_SLACK``. The factor covers the Python objects metadata
and tensor records become (worst cases measured ~10 bytes of objects per file byte: many keys
with empty arrays, arrays of empty arrays; see the last test); the slack covers fixed costs.
A count or length trusted before it is checked would allocate far more.
"""
from __future__ import annotations

import itertools
import random
import signal
import struct
import time
import tracemalloc
from dataclasses import dataclass
from pathlib import Path

import gguf
import numpy as np
import pytest
from gguf.constants import GGUFValueType as V
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from runtime.errors import GGUFFormatError
from runtime.ggml_types import GGMLType, block_geometry
from runtime.gguf import GGUFWriter, open_gguf
from tests.gguf_factory import Arr, Built, GGUFBuilder, rich_seed

TIME_LIMIT_S = 2.0
MEMORY_FACTOR = 16
MEMORY_SLACK = 64 * 1024
MIN_MALFORMED_FILES = 2000

HYPOTHESIS = settings(derandomize=True, deadline=int(TIME_LIMIT_S * 1000), database=None,
                      suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])


class ReaderTimeout(Exception):
    pass


def _alarm(signum, frame):
    raise ReaderTimeout(f"open took more than {TIME_LIMIT_S} s")


@dataclass
class Outcome:
    loaded: bool
    seconds: float
    peak: int


class Checker:
    """Writes a candidate file, opens it under a time limit and tracemalloc, checks the outcome."""

    def __init__(self, directory: Path):
        self.directory = directory
        self.count = 0
        self.loaded = 0

    def __call__(self, data: bytes, what: str) -> Outcome:
        path = self.directory / f"case{self.count}.gguf"
        path.write_bytes(data)
        self.count += 1
        previous = signal.signal(signal.SIGALRM, _alarm)
        tracemalloc.start()
        start = time.perf_counter()
        signal.setitimer(signal.ITIMER_REAL, TIME_LIMIT_S)
        try:
            try:
                with open_gguf(path) as f:
                    _check_loaded(f, len(data))
                loaded = True
            except GGUFFormatError as e:
                assert e.path == str(path) and e.field, f"{what}: error lacks path or field: {e}"
                loaded = False
            except Exception as e:  # noqa: BLE001 - anything else is the bug this test looks for
                pytest.fail(f"{what}: {type(e).__name__}: {e}")
            outcome = Outcome(loaded, time.perf_counter() - start, tracemalloc.get_traced_memory()[1])
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)
            tracemalloc.stop()
        path.unlink()
        assert outcome.seconds < TIME_LIMIT_S, f"{what}: took {outcome.seconds:.2f} s"
        bound = MEMORY_FACTOR * len(data) + MEMORY_SLACK
        assert outcome.peak <= bound, f"{what}: peak {outcome.peak} bytes > {bound} for a {len(data)}-byte file"
        self.loaded += loaded
        return outcome


def _check_loaded(f, file_size: int) -> None:
    """A file that loads must honour every invariant the reader promises, and its data must be readable."""
    spans = []
    for name, t in f.tensors.items():
        assert t.offset % f.alignment == 0 and t.offset >= f.data_offset
        assert t.offset + t.nbytes <= file_size
        block, size = block_geometry(t.ggml_type)
        assert t.shape[-1] % block == 0 and t.nbytes == t.n_elements // block * size
        view = f.raw(name)
        assert view.nbytes == t.nbytes
        np.bitwise_xor.reduce(view)  # touches every byte
        spans.append((t.offset, t.offset + t.nbytes))
        del view
    spans.sort()
    assert all(a_end <= b_start for (_, a_end), (b_start, _) in zip(spans, spans[1:]))


@pytest.fixture
def check(tmp_path) -> Checker:
    return Checker(tmp_path)


# -- seeds ---------------------------------------------------------------------------------
def _gguf_py_file(path: Path) -> bytes:
    w = gguf.GGUFWriter(path, "gpt-oss")
    w.add_uint32("gpt-oss.block_count", 2)
    w.add_token_list(["<|start|>", "hi", "ü"])
    w.add_token_merges(["h i", "hi !"])
    w.add_array("t.f", [0.5, 1.5])
    rng = np.random.default_rng(7)
    w.add_tensor("f32", rng.standard_normal((2, 3)).astype(np.float32))
    w.add_tensor("q8", rng.integers(0, 256, (2, 34), dtype=np.uint8), raw_dtype=gguf.GGMLQuantizationType.Q8_0)
    w.add_tensor("mx", rng.integers(0, 256, (1, 17), dtype=np.uint8), raw_dtype=gguf.GGMLQuantizationType.MXFP4)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return path.read_bytes()


def _our_writer_file(path: Path) -> bytes:
    w = GGUFWriter(alignment=16)
    w.add("general.architecture", "gpt2")
    w.add("tokenizer.ggml.tokens", ["a", "b"])
    w.add("t.ids", np.arange(5, dtype=np.int64))
    w.add_array("w", np.ones((2, 8), np.float16))
    w.add_array("q", np.zeros((1, 144), np.uint8), GGMLType.Q4_K)
    w.write(path, show_progress=False)
    return path.read_bytes()


@pytest.fixture(scope="module")
def seeds(tmp_path_factory) -> dict[str, Built]:
    """Seeds with a field map (rewritable) and plain byte seeds from gguf-py and our writer."""
    d = tmp_path_factory.mktemp("seeds")
    mapped = {
        "rich-a32": rich_seed(alignment=32).build(),
        "rich-a64-v2": rich_seed(alignment=64, version=2).build(),
        "rich-a1": rich_seed(alignment=1).build(),
    }
    plain = {"gguf-py": _gguf_py_file(d / "gguf_py.gguf"), "our-writer": _our_writer_file(d / "ours.gguf")}
    for name, data in plain.items():
        mapped[name] = Built(data, {}, 0)
    return mapped


def test_seeds_are_valid(seeds, tmp_path):
    for name, built in seeds.items():
        path = built.write(tmp_path / f"{name}.gguf")
        with open_gguf(path) as f:
            assert f.tensors and f.architecture


# -- deterministic mutation sweep ----------------------------------------------------------
def _interesting_values(original: int, width: int, file_size: int, rng: random.Random) -> set[int]:
    top = (1 << (8 * width)) - 1
    values = {0, 1, 33, top, top >> 1, (top >> 1) + 1, original + 1, original - 1, original * 2,
              original + 32, file_size - original, rng.randrange(top + 1), rng.randrange(2 * file_size)}
    return {v % (top + 1) for v in values} - {original}


def _field_rewrites(name: str, built: Built, rng: random.Random):
    for field, at in built.fields.items():
        width = struct.calcsize(at.fmt)
        original = built.field_value(field)
        for value in sorted(_interesting_values(original, width, len(built.data), rng)):
            yield f"{name}: {field}={value}", built.with_field(field, value)


def _boundaries(built: Built) -> set[int]:
    cuts = {0, 4, 8, 16, 23, 24, built.data_offset, len(built.data) - 1}
    for at in built.fields.values():
        cuts |= {at.offset, at.offset + 1, at.offset + struct.calcsize(at.fmt) - 1}
    return {c for c in cuts if 0 <= c < len(built.data)}


def _truncations(name: str, built: Built):
    cuts = _boundaries(built) if built.fields else set(range(0, len(built.data), 7))
    for cut in sorted(cuts):
        yield f"{name}: truncated to {cut}", built.data[:cut]


def _byte_flips(name: str, built: Built, rng: random.Random, n: int = 150):
    header_end = built.data_offset or len(built.data) // 2
    for _ in range(n):
        data = bytearray(built.data)
        spots = [rng.randrange(header_end) for _ in range(rng.choice((1, 1, 2, 4)))]
        for pos in spots:
            data[pos] ^= 1 << rng.randrange(8) if rng.random() < 0.5 else rng.randrange(1, 256)
        yield f"{name}: flipped bytes {spots}", bytes(data)


def _splices(name: str, built: Built, rng: random.Random, n: int = 40):
    """Delete or duplicate a slice of the header: every later field shifts."""
    header_end = built.data_offset or len(built.data) // 2
    for _ in range(n):
        a = rng.randrange(24, header_end)
        b = min(header_end, a + rng.randrange(1, 24))
        if rng.random() < 0.5:
            yield f"{name}: deleted [{a}:{b}]", built.data[:a] + built.data[b:]
        else:
            yield f"{name}: duplicated [{a}:{b}]", built.data[:b] + built.data[a:b] + built.data[b:]


def test_mutation_sweep(seeds, check):
    rng = random.Random(20240611)
    rejected = 0
    for name, built in seeds.items():
        cases = itertools.chain(_field_rewrites(name, built, rng), _truncations(name, built),
                                _byte_flips(name, built, rng), _splices(name, built, rng))
        for what, data in cases:
            if data != built.data:
                rejected += not check(data, what).loaded
    print(f"mutation sweep: {check.count} malformed files, {rejected} rejected, {check.loaded} loaded")
    assert check.count >= MIN_MALFORMED_FILES, check.count
    # Most mutations must be caught; some (a flipped data byte, a bigger still-valid count) load.
    assert rejected >= 0.6 * check.count, (rejected, check.count)


# -- hypothesis: arbitrary edits of the seeds ----------------------------------------------
edit = st.one_of(
    st.tuples(st.just("xor"), st.integers(0, 10**6), st.integers(1, 255)),
    st.tuples(st.just("field"), st.integers(0, 10**6), st.integers(0, 2**64 - 1)),
    st.tuples(st.just("truncate"), st.integers(0, 10**6), st.just(0)),
)


def _apply(built: Built, edits) -> bytes:
    data = built.data
    names = sorted(built.fields)
    for kind, where, value in edits:
        if kind == "xor" and data:
            pos = where % len(data)
            data = data[:pos] + bytes([data[pos] ^ value]) + data[pos + 1:]
        elif kind == "field" and names:
            data = Built(data, built.fields, built.data_offset).with_field(names[where % len(names)], value)
        elif kind == "truncate":
            data = data[:where % (len(data) + 1)]
    return data


@settings(HYPOTHESIS, max_examples=300)
@given(seed=st.sampled_from(["rich-a32", "rich-a64-v2", "rich-a1", "gguf-py", "our-writer"]),
       edits=st.lists(edit, min_size=1, max_size=4))
def test_hypothesis_edits(seeds, check, seed, edits):
    check(_apply(seeds[seed], edits), f"{seed}: {edits}")


@settings(HYPOTHESIS, max_examples=200)
@given(n_tensors=st.integers(0, 2**64 - 1), n_kv=st.integers(0, 2**64 - 1), body=st.binary(max_size=512))
def test_hypothesis_random_body(check, n_tensors, n_kv, body):
    """A valid preamble with arbitrary counts over arbitrary bytes."""
    check(b"GGUF" + struct.pack("<IQQ", 3, n_tensors, n_kv) + body, f"counts {n_tensors}/{n_kv}")


# -- hypothesis: valid files round-trip ----------------------------------------------------
_NUMERIC = {V.UINT8: st.integers(0, 255), V.INT8: st.integers(-128, 127), V.UINT16: st.integers(0, 2**16 - 1),
            V.INT16: st.integers(-(2**15), 2**15 - 1), V.UINT32: st.integers(0, 2**32 - 1),
            V.INT32: st.integers(-(2**31), 2**31 - 1), V.UINT64: st.integers(0, 2**64 - 1),
            V.INT64: st.integers(-(2**63), 2**63 - 1), V.FLOAT32: st.floats(width=32, allow_nan=False),
            V.FLOAT64: st.floats(allow_nan=False), V.BOOL: st.booleans()}
_TEXT = st.text(max_size=12)


@st.composite
def _kv_value(draw):
    vtype = draw(st.sampled_from([*_NUMERIC, V.STRING, V.ARRAY]))
    if vtype == V.STRING:
        return vtype, draw(_TEXT)
    if vtype != V.ARRAY:
        return vtype, draw(_NUMERIC[vtype])
    etype = draw(st.sampled_from([*_NUMERIC, V.STRING]))
    items = draw(st.lists(_TEXT if etype == V.STRING else _NUMERIC[etype], max_size=8))
    return vtype, Arr(etype, items)


_TENSOR_TYPES = [GGMLType.F32, GGMLType.F16, GGMLType.BF16, GGMLType.Q8_0, GGMLType.Q4_K, GGMLType.Q6_K,
                 GGMLType.Q5_0, GGMLType.MXFP4, GGMLType.I8, GGMLType.I32]


@st.composite
def _valid_file(draw):
    alignment = 1 << draw(st.integers(0, 8))
    b = GGUFBuilder(version=draw(st.sampled_from([2, 3])), alignment=alignment, seed=draw(st.integers(0, 99)))
    if alignment != 32 or draw(st.booleans()):
        b.kv("general.alignment", V.UINT32, alignment)
    keys = draw(st.lists(_TEXT.filter(lambda k: k != "general.alignment"), unique=True, max_size=6))
    expected = {}
    for key in keys:
        vtype, value = draw(_kv_value())
        b.kv(key, vtype, value)
        expected[key] = (vtype, value)
    names = draw(st.lists(_TEXT, unique=True, max_size=5))
    shapes = {}
    for name in names:
        gtype = draw(st.sampled_from(_TENSOR_TYPES))
        block, _ = block_geometry(gtype)
        dims = (block * draw(st.integers(1, 3)), *draw(st.lists(st.integers(1, 3), max_size=3)))
        b.tensor(name, dims, gtype)
        shapes[name] = (tuple(reversed(dims)), gtype)
    return b.build(), alignment, expected, shapes


def _same(value, want) -> bool:
    """Values from the strategies are exact in their GGUF type, so they must come back equal."""
    if isinstance(want, Arr):
        got = value.tolist() if isinstance(value, np.ndarray) else value
        return got == [bool(x) if want.elem_type == V.BOOL else x for x in want.items]
    return value == want


@settings(HYPOTHESIS, max_examples=150)
@given(case=_valid_file())
def test_hypothesis_valid_files_round_trip(tmp_path, case):
    built, alignment, expected, shapes = case
    path = built.write(tmp_path / "valid.gguf")
    with open_gguf(path) as f:
        assert f.alignment == alignment and f.data_offset == built.data_offset
        for key, (vtype, value) in expected.items():
            assert f.metadata_types[key] == vtype
            assert _same(f.metadata[key], value), (key, f.metadata[key], value)
        assert {n: (t.shape, t.ggml_type) for n, t in f.tensors.items()} == shapes
        for name, t in f.tensors.items():
            assert f.raw(name).tobytes() == built.data[t.offset:t.offset + t.nbytes]


# -- worst-case headers for the memory bound -----------------------------------------------
def _names(n: int) -> list[str]:
    alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
    every = (''.join(p) for size in itertools.count(1) for p in itertools.product(alphabet, repeat=size))
    return list(itertools.islice(every, n))


def _adversarial(kind: str, n: int = 4000) -> bytes:
    b = GGUFBuilder(alignment=1).kv("general.alignment", V.UINT32, 1)
    if kind == "short strings":
        b.kv("a", V.ARRAY, Arr(V.STRING, _names(n)))
    elif kind == "arrays of empty arrays":
        b.kv("a", V.ARRAY, Arr(V.ARRAY, [Arr(V.INT8, [])] * n))
    elif kind == "many keys":
        for k in _names(n):
            b.kv(k, V.ARRAY, Arr(V.UINT8, []))
    else:
        for k in _names(n):
            b.tensor(k, (1, 1, 1, 1), GGMLType.I8)
    return b.build().data


@pytest.mark.parametrize("kind", ["short strings", "arrays of empty arrays", "many keys", "many tensors"])
def test_memory_bound_holds_for_object_heavy_headers(check, kind):
    """Valid headers built to maximise Python objects per file byte still meet the bound."""
    outcome = check(_adversarial(kind), kind)
    assert outcome.loaded
