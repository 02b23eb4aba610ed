"""Targeted tests of the hardened GGUF reader: one or more per malformation class, each
checking the error's field, file, byte offset and expected/found, plus interoperability
with gguf-py in both directions and memory-mapped tensor data."""
from __future__ import annotations

import mmap
import time
import tracemalloc

import gguf
import numpy as np
import pytest
from gguf.constants import GGUFValueType as V

from runtime.errors import GGUFFormatError, PlugrtError
from runtime.ggml_types import GGMLType
from runtime.gguf import GGUFWriter, TensorSpec, Typed, open_gguf
from tests.gguf_factory import Arr, GGUFBuilder, minimal, rich_seed


def _open_bad(tmp_path, data: bytes) -> tuple[GGUFFormatError, str]:
    path = tmp_path / "bad.gguf"
    path.write_bytes(data)
    with pytest.raises(GGUFFormatError) as info:
        open_gguf(path)
    return info.value, str(path)


def expect_error(tmp_path, data: bytes, *, field: str, offset: int, expected=None, found=None):
    """Open ``data`` and check the error names ``field``, the file, ``offset`` and expected/found
    (substring match for ``expected``/``found`` given as str, equality otherwise)."""
    err, path = _open_bad(tmp_path, data)
    assert err.field == field, str(err)
    assert err.path == path
    assert err.offset == offset, str(err)
    for want, got in ((expected, err.expected), (found, err.found)):
        if isinstance(want, str):
            assert want in str(got), str(err)
        elif want is not None:
            assert got == want, str(err)
    assert path in str(err) and f"byte {offset}" in str(err)
    return err


def test_error_is_a_plugrt_error():
    assert issubclass(GGUFFormatError, PlugrtError)


# -- header --------------------------------------------------------------------------------
def test_bad_magic(tmp_path):
    data = minimal().build().data
    expect_error(tmp_path, b"GGML" + data[4:], field="magic", offset=0, expected=b"GGUF", found=b"GGML")


@pytest.mark.parametrize("version", [0, 1, 4, 2**32 - 1])
def test_unsupported_version(tmp_path, version):
    b = minimal().build()
    expect_error(tmp_path, b.with_field("version", version), field="version", offset=4, found=version)


def test_big_endian_file_is_named(tmp_path):
    b = minimal().build()
    err = expect_error(tmp_path, b.with_field("version", 3 << 24), field="version", offset=4, found=3 << 24)
    assert "big-endian" in str(err)


@pytest.mark.parametrize("size", [0, 3, 4, 8, 23])
def test_truncated_header(tmp_path, size):
    data = minimal().build().data[:size]
    expect_error(tmp_path, data, field="header", offset=0, expected=">= 24 bytes", found=f"{size} bytes")


def test_truncated_inside_metadata(tmp_path):
    b = minimal().build()
    at = b.fields["general.architecture#len"].offset
    expect_error(tmp_path, b.data[:at + 5], field="general.architecture (length)", offset=at,
                 expected="8 bytes", found="5 bytes")


def test_truncated_inside_tensor_info(tmp_path):
    b = minimal().build()
    at = b.fields["w#dim1"].offset
    expect_error(tmp_path, b.data[:at + 3], field="tensor 'w'.dims[1]", offset=at,
                 expected="8 bytes", found="3 bytes")


def test_tensor_count_larger_than_file(tmp_path):
    b = minimal().build()
    expect_error(tmp_path, b.with_field("tensor_count", 2**40), field="tensor_count", offset=8, found=2**40)


def test_kv_count_larger_than_file(tmp_path):
    b = minimal().build()
    expect_error(tmp_path, b.with_field("kv_count", 2**64 - 1), field="metadata_kv_count", offset=16,
                 found=2**64 - 1)


def test_kv_count_one_too_many_reads_past_end(tmp_path):
    b = GGUFBuilder().kv("a", V.STRING, "x" * 20).build()
    end = b.fields["a#len"].offset + 8 + 20  # drop the trailing padding: the kv is the last thing
    expect_error(tmp_path, b.with_field("kv_count", 2)[:end], field="metadata[1].key (length)", offset=end,
                 expected="8 bytes", found="0 bytes")


# -- metadata values -----------------------------------------------------------------------
def test_string_length_past_eof(tmp_path):
    b = minimal().build()
    at = b.fields["general.architecture#len"].offset
    expect_error(tmp_path, b.with_field("general.architecture#len", len(b.data)), field="general.architecture",
                 offset=at + 8, expected=f"{len(b.data)} bytes")


def test_key_length_past_eof(tmp_path):
    b = minimal().build()
    expect_error(tmp_path, b.with_field("general.architecture#key_len", 2**63), field="metadata[0].key",
                 offset=32, expected=f"{2**63} bytes")


@pytest.mark.parametrize("key", ["tokenizer.ggml.tokens", "tokenizer.ggml.scores", "t.nested"])
def test_array_length_past_eof(tmp_path, key):
    b = rich_seed().build()
    at = b.fields[f"{key}#count"].offset
    expect_error(tmp_path, b.with_field(f"{key}#count", 2**62), field=key, offset=at,
                 expected="elements", found=2**62)


def test_array_element_string_length_past_eof(tmp_path):
    b = rich_seed().build()
    at = b.fields["tokenizer.ggml.tokens[1]#len"].offset
    expect_error(tmp_path, b.with_field("tokenizer.ggml.tokens[1]#len", 2**40),
                 field="tokenizer.ggml.tokens[1]", offset=at + 8, expected=f"{2**40} bytes")


def test_invalid_utf8_in_key(tmp_path):
    data = GGUFBuilder().kv(b"general.\xffname", V.UINT8, 1).build().data
    expect_error(tmp_path, data, field="metadata[0].key", offset=24, expected="UTF-8", found="invalid byte")


def test_invalid_utf8_in_string_array_element(tmp_path):
    b = GGUFBuilder().kv("tok", V.ARRAY, Arr(V.STRING, ["ok", b"\xc3\x28", "fine"])).build()
    expect_error(tmp_path, b.data, field="tok[1]", offset=b.fields["tok[1]#len"].offset, expected="UTF-8")


@pytest.mark.parametrize("raw_type", [13, 255, 2**32 - 1])
def test_unknown_value_type(tmp_path, raw_type):
    b = rich_seed().build()
    expect_error(tmp_path, b.with_field("t.u8#type", raw_type), field="t.u8",
                 offset=b.fields["t.u8#type"].offset, found=raw_type)


def test_unknown_array_element_type(tmp_path):
    b = rich_seed().build()
    expect_error(tmp_path, b.with_field("t.flags#elem_type", 99), field="t.flags (array element type)",
                 offset=b.fields["t.flags#elem_type"].offset, found=99)


@pytest.mark.parametrize("value", [2, 255])
def test_bool_not_zero_or_one(tmp_path, value):
    b = GGUFBuilder().kv("flag", V.BOOL, value).build()
    expect_error(tmp_path, b.data, field="flag", offset=b.fields["flag#value"].offset,
                 expected="0 or 1", found=value)


def test_bool_array_element_not_zero_or_one(tmp_path):
    b = GGUFBuilder().kv("flags", V.ARRAY, Arr(V.BOOL, [1, 0, 7])).build()
    expect_error(tmp_path, b.data, field="flags[2]", offset=b.fields["flags[2]#value"].offset,
                 expected="0 or 1", found=7)


def _nested(depth: int) -> Arr:
    arr = Arr(V.UINT8, [1])
    for _ in range(depth - 1):
        arr = Arr(V.ARRAY, [arr])
    return arr


def test_arrays_nested_too_deep(tmp_path):
    b = GGUFBuilder().kv("deep", V.ARRAY, _nested(5)).build()
    expect_error(tmp_path, b.data, field="deep[0][0][0][0]",
                 offset=b.fields["deep[0][0][0][0]#elem_type"].offset, expected="<= 4", found=5)


def test_arrays_nested_at_the_limit_load(tmp_path):
    path = GGUFBuilder().kv("deep", V.ARRAY, _nested(4)).build().write(tmp_path / "ok.gguf")
    with open_gguf(path) as f:
        assert f.metadata["deep"][0][0][0].tolist() == [1]


def test_duplicate_metadata_key(tmp_path):
    b = GGUFBuilder().kv("a.b", V.UINT32, 1).kv("x", V.UINT8, 1).kv("a.b", V.STRING, "again").build()
    second = b.fields["a.b#key_len"].offset  # the builder records the last occurrence
    expect_error(tmp_path, b.data, field="a.b", offset=second, expected="unique", found="byte 24")


# -- tensor infos --------------------------------------------------------------------------
@pytest.mark.parametrize("dims", [(), (1, 1, 1, 1, 1)])
def test_bad_number_of_dims(tmp_path, dims):
    b = GGUFBuilder().tensor("w", dims, GGMLType.F32).build()
    expect_error(tmp_path, b.data, field="tensor 'w'.n_dims", offset=b.fields["w#n_dims"].offset,
                 expected="1..4", found=len(dims))


def test_n_dims_huge(tmp_path):
    b = minimal().build()
    expect_error(tmp_path, b.with_field("w#n_dims", 2**32 - 1), field="tensor 'w'.n_dims",
                 offset=b.fields["w#n_dims"].offset, found=2**32 - 1)


def test_zero_dimension(tmp_path):
    b = GGUFBuilder().tensor("w", (4, 0), GGMLType.F32).build()
    expect_error(tmp_path, b.data, field="tensor 'w'.dims[1]", offset=b.fields["w#dim1"].offset,
                 expected="> 0", found=0)


@pytest.mark.parametrize("dims", [(2**32, 2**32), (2**62, 2), (2**63 - 1, 1, 1, 2), (2**64 - 1,)])
def test_dimension_product_overflows_64_bits(tmp_path, dims):
    b = GGUFBuilder().tensor("w", dims, GGMLType.I8, data=b"").build()
    last = len(dims) - 1
    expect_error(tmp_path, b.data, field="tensor 'w'.dims", offset=b.fields[f"w#dim{last}"].offset,
                 expected=f"<= {2**63 - 1}")


@pytest.mark.parametrize("raw_type", [4, 5, 42, 2**32 - 1])
def test_unknown_ggml_type(tmp_path, raw_type):
    b = minimal().build()
    expect_error(tmp_path, b.with_field("w#type", raw_type), field="tensor 'w'.type",
                 offset=b.fields["w#type"].offset, found=raw_type)


@pytest.mark.parametrize("ggml_type, cols, block", [(GGMLType.Q8_0, 33, 32), (GGMLType.Q4_K, 288, 256),
                                                    (GGMLType.MXFP4, 16, 32)])
def test_row_length_not_multiple_of_block(tmp_path, ggml_type, cols, block):
    b = GGUFBuilder().tensor("w", (cols, 2), ggml_type).build()
    expect_error(tmp_path, b.data, field="tensor 'w'.dims[0]", offset=b.fields["w#name_len"].offset,
                 expected=f"multiple of {block}", found=cols)


def test_tensor_data_shorter_than_type_and_shape_imply(tmp_path):
    b = GGUFBuilder().tensor("a", (64,), GGMLType.F32).tensor("w", (64, 2), GGMLType.Q8_0).build()
    start = b.data_offset + b.field_value("w#offset")
    # F32 needs 4 bytes/element where Q8_0 needs 34 per 32: 512 bytes, far past the end.
    expect_error(tmp_path, b.with_field("w#type", GGMLType.F32), field="tensor 'w'.offset",
                 offset=b.fields["w#name_len"].offset, expected=f"file size {len(b.data)}",
                 found=f"end {start + 512}")


def test_truncated_tensor_data(tmp_path):
    b = GGUFBuilder().tensor("w", (32, 4), GGMLType.Q8_0).build()
    end = b.data_offset + 4 * 34
    expect_error(tmp_path, b.data[:end - 1], field="tensor 'w'.offset", offset=b.fields["w#name_len"].offset,
                 expected=f"file size {end - 1}", found=f"end {end}")


def test_dims_larger_than_data(tmp_path):
    b = minimal().build()
    expect_error(tmp_path, b.with_field("w#dim1", 3), field="tensor 'w'.offset",
                 offset=b.fields["w#name_len"].offset, expected="file size")


@pytest.mark.parametrize("offset", [1, 4, 31, 33])
def test_offset_not_aligned(tmp_path, offset):
    b = minimal().build()
    expect_error(tmp_path, b.with_field("w#offset", offset), field="tensor 'w'.offset",
                 offset=b.fields["w#name_len"].offset, expected="multiple of 32", found=offset)


def test_offset_not_aligned_to_custom_alignment(tmp_path):
    b = GGUFBuilder(alignment=64).kv("general.alignment", V.UINT32, 64).tensor("w", (8,), GGMLType.F32)
    b = b.build()
    expect_error(tmp_path, b.with_field("w#offset", 32), field="tensor 'w'.offset",
                 offset=b.fields["w#name_len"].offset, expected="multiple of 64", found=32)


@pytest.mark.parametrize("vtype, value, found", [(V.UINT32, 0, "UINT32 0"), (V.UINT32, 48, "UINT32 48"),
                                                 (V.UINT32, 2**32 - 1, "UINT32"), (V.UINT64, 32, "UINT64 32"),
                                                 (V.INT32, 32, "INT32 32"), (V.STRING, "32", "STRING")])
def test_alignment_not_power_of_two_uint32(tmp_path, vtype, value, found):
    b = GGUFBuilder().kv("general.architecture", V.STRING, "x").kv("general.alignment", vtype, value).build()
    expect_error(tmp_path, b.data, field="general.alignment", offset=b.fields["general.alignment#key_len"].offset,
                 expected="power of two", found=found)


@pytest.mark.parametrize("rel_offset", [2**40, 2**64 - 32, 4096])
def test_tensor_data_outside_file(tmp_path, rel_offset):
    b = minimal().build()
    expect_error(tmp_path, b.with_field("w#offset", rel_offset), field="tensor 'w'.offset",
                 offset=b.fields["w#name_len"].offset, expected=f"file size {len(b.data)}",
                 found=f"end {b.data_offset + rel_offset + 32}")


def test_two_tensors_overlap(tmp_path):
    b = GGUFBuilder().tensor("a", (16,), GGMLType.F32, offset=0).tensor("b", (16,), GGMLType.F32, offset=32)
    b = b.build()
    expect_error(tmp_path, b.data, field="tensor 'b'.offset", offset=b.data_offset + 32,
                 expected=f">= {b.data_offset + 64} (end of 'a')", found=b.data_offset + 32)


def test_two_tensors_at_same_offset(tmp_path):
    b = GGUFBuilder().tensor("a", (8,), GGMLType.F32).tensor("b", (8,), GGMLType.F32).build()
    err, _ = _open_bad(tmp_path, b.with_field("b#offset", 0))
    assert err.field in ("tensor 'a'.offset", "tensor 'b'.offset") and err.offset == b.data_offset


def test_overlap_with_a_non_neighbour(tmp_path):
    """A long tensor overlapping one that is not its neighbour in the header."""
    b = GGUFBuilder().tensor("long", (64,), GGMLType.F32, offset=128).tensor("mid", (8,), GGMLType.F32, offset=0)
    b = b.tensor("late", (8,), GGMLType.F32, offset=64).build()
    err, _ = _open_bad(tmp_path, b.with_field("long#offset", 32))  # 'long' (256 bytes) now covers 'late'
    assert err.field == "tensor 'late'.offset" and "'long'" in err.expected


def test_duplicate_tensor_names(tmp_path):
    b = GGUFBuilder().tensor("w", (8,), GGMLType.F32).tensor("w", (8,), GGMLType.F32).build()
    expect_error(tmp_path, b.data, field="tensor 'w'.name", offset=b.fields["w#name_len"].offset,
                 expected="unique", found="repeated")


def test_invalid_utf8_in_tensor_name(tmp_path):
    b = GGUFBuilder().tensor(b"w\xfe", (8,), GGMLType.F32).build()
    expect_error(tmp_path, b.data, field="tensor[0].name", offset=24, expected="UTF-8")


# -- architecture --------------------------------------------------------------------------
def test_missing_architecture(tmp_path):
    path = GGUFBuilder().kv("general.name", V.STRING, "x").build().write(tmp_path / "noarch.gguf")
    with open_gguf(path) as f:
        with pytest.raises(GGUFFormatError) as info:
            f.architecture
    err = info.value
    assert (err.field, err.path, err.offset, err.found) == ("general.architecture", str(path), 24, "missing")


def test_architecture_of_wrong_type(tmp_path):
    b = GGUFBuilder().kv("general.name", V.STRING, "x").kv("general.architecture", V.UINT32, 7).build()
    path = b.write(tmp_path / "archint.gguf")
    with open_gguf(path) as f, pytest.raises(GGUFFormatError) as info:
        f.architecture
    assert info.value.field == "general.architecture" and info.value.found == "UINT32"
    assert info.value.offset == b.fields["general.architecture#key_len"].offset


# -- valid files ---------------------------------------------------------------------------
def test_rich_seed_reads_back(tmp_path):
    built = rich_seed(alignment=64).build()
    path = built.write(tmp_path / "rich.gguf")
    with open_gguf(path) as f:
        assert (f.version, f.alignment, f.architecture) == (3, 64, "gpt-oss")
        assert f.data_offset == built.data_offset
        m, types = f.metadata, f.metadata_types
        assert m["t.u64"] == 2**63 + 1 and types["t.u64"] == V.UINT64
        assert m["t.i8"] == -5 and m["t.f64"] == -2.25 and m["t.bool"] is True
        assert m["general.name"] == "tiny ✓"
        assert m["tokenizer.ggml.tokens"] == ["<s>", "a", "é", "", "hello"]
        assert m["tokenizer.ggml.token_type"].dtype == np.int32
        assert m["t.flags"].tolist() == [True, False, True]
        assert [np.asarray(x).tolist() for x in m["t.nested"]] == [[1, 2], ["x"], []]
        q = f.tensors["blk.0.ffn_up_exps.weight"]
        assert (q.shape, q.ggml_type, q.nbytes) == ((2, 2, 64), GGMLType.MXFP4, 2 * 2 * 2 * 17)
        for name, t in f.tensors.items():
            assert t.offset % 64 == 0
            assert f.raw(name).tobytes() == built.data[t.offset:t.offset + t.nbytes]


def test_version_2_and_empty_file(tmp_path):
    path = GGUFBuilder(version=2).build().write(tmp_path / "empty.gguf")
    with open_gguf(path) as f:
        assert (f.version, f.metadata, f.tensors) == (2, {}, {})


def test_gguf_py_writer_read_by_our_reader(tmp_path):
    path = tmp_path / "gguf_py.gguf"
    rng = np.random.default_rng(0)
    f32 = rng.standard_normal((3, 5)).astype(np.float32)
    f16 = rng.standard_normal((2, 4)).astype(np.float16)
    q8 = rng.integers(0, 256, (4, 2 * 34), dtype=np.uint8)  # 4 rows of 64 Q8_0 weights
    w = gguf.GGUFWriter(path, "gpt2")
    w.add_uint32("gpt2.block_count", 12)
    w.add_float32("gpt2.attention.layer_norm_epsilon", 1e-5)
    w.add_bool("tokenizer.ggml.add_bos_token", False)
    w.add_string("general.name", "interop")
    w.add_token_list(["a", "b", "ü"])
    w.add_array("t.ints", [1, -2, 3])
    w.add_tensor("f32", f32)
    w.add_tensor("f16", f16)
    w.add_tensor("q8", q8, raw_dtype=gguf.GGMLQuantizationType.Q8_0)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    with open_gguf(path) as f:
        assert f.architecture == "gpt2"
        assert f.metadata["gpt2.block_count"] == 12 and f.metadata_types["gpt2.block_count"] == V.UINT32
        assert f.metadata["gpt2.attention.layer_norm_epsilon"] == pytest.approx(1e-5)
        assert f.metadata_types["gpt2.attention.layer_norm_epsilon"] == V.FLOAT32
        assert f.metadata["tokenizer.ggml.add_bos_token"] is False
        assert f.metadata["general.name"] == "interop"
        assert f.metadata["tokenizer.ggml.tokens"] == ["a", "b", "ü"]
        assert f.metadata["t.ints"].tolist() == [1, -2, 3]
        t = f.tensors
        assert (t["f32"].shape, t["f32"].ggml_type) == ((3, 5), GGMLType.F32)
        assert (t["f16"].shape, t["f16"].ggml_type) == ((2, 4), GGMLType.F16)
        assert (t["q8"].shape, t["q8"].ggml_type, t["q8"].nbytes) == ((4, 64), GGMLType.Q8_0, q8.nbytes)
        np.testing.assert_array_equal(f.raw("f32").view(np.float32).reshape(3, 5), f32)
        np.testing.assert_array_equal(f.raw("f16").view(np.float16).reshape(2, 4), f16)
        np.testing.assert_array_equal(f.raw("q8"), q8.reshape(-1))


@pytest.mark.parametrize("alignment", [32, 64])
def test_our_writer_read_by_gguf_py(tmp_path, alignment):
    path = tmp_path / "ours.gguf"
    rng = np.random.default_rng(1)
    f32 = rng.standard_normal((3, 7)).astype(np.float32)
    mx = rng.integers(0, 256, (2, 3 * 17), dtype=np.uint8)  # 2 rows of 96 MXFP4 weights
    w = GGUFWriter(alignment=alignment)
    w.add("general.architecture", "gpt-oss")
    w.add("gpt-oss.block_count", 24)
    w.add("t.big", 2**40)
    w.add("t.eps", 1e-5)
    w.add("t.flag", True)
    w.add("tokenizer.ggml.tokens", ["x", "yz", "ω"])
    w.add("t.u16", np.array([1, 2, 65535], dtype=np.uint16))
    w.add("t.f64", Typed(V.FLOAT64, 0.125))
    w.add_array("f32", f32)
    w.add_array("mx", mx, GGMLType.MXFP4)
    w.add_tensor(TensorSpec("q8", (2, 32), GGMLType.Q8_0, lambda: bytes(range(68))))
    w.write(path, show_progress=False)

    r = gguf.GGUFReader(path)
    assert r.alignment == alignment
    assert r.get_field("general.architecture").contents() == "gpt-oss"
    assert r.get_field("gpt-oss.block_count").contents() == 24
    assert r.get_field("gpt-oss.block_count").types == [V.UINT32]
    assert r.get_field("t.big").contents() == 2**40 and r.get_field("t.big").types == [V.INT64]
    assert r.get_field("t.eps").contents() == pytest.approx(1e-5)
    assert r.get_field("t.flag").contents() is True
    assert r.get_field("tokenizer.ggml.tokens").contents() == ["x", "yz", "ω"]
    assert r.get_field("t.u16").contents() == [1, 2, 65535]
    assert r.get_field("t.f64").contents() == 0.125
    theirs = {t.name: t for t in r.tensors}
    assert theirs["f32"].tensor_type == GGMLType.F32 and list(theirs["f32"].shape) == [7, 3]
    np.testing.assert_array_equal(np.asarray(theirs["f32"].data).reshape(3, 7), f32)
    assert theirs["mx"].tensor_type == GGMLType.MXFP4 and list(theirs["mx"].shape) == [96, 2]
    np.testing.assert_array_equal(np.asarray(theirs["mx"].data).reshape(-1), mx.reshape(-1))
    assert np.asarray(theirs["q8"].data).tobytes() == bytes(range(68))
    with open_gguf(path) as f:  # and ours agrees with theirs on where the data lies
        for name, t in f.tensors.items():
            assert t.offset == theirs[name].data_offset and t.nbytes == theirs[name].n_bytes


def test_our_writer_picks_types_that_hold_the_value(tmp_path):
    w = GGUFWriter()
    w.add("u32", 2**32 - 1)
    w.add("i64", -1)
    w.add("u64", 2**64 - 1)
    w.add("flags", [True, False, True])
    w.add("ints", [1, 2])
    w.write(tmp_path / "types.gguf", show_progress=False)
    with open_gguf(tmp_path / "types.gguf") as f:
        t, m = f.metadata_types, f.metadata
        assert (t["u32"], t["i64"], t["u64"]) == (V.UINT32, V.INT64, V.UINT64)
        assert (m["u32"], m["i64"], m["u64"]) == (2**32 - 1, -1, 2**64 - 1)
        assert m["flags"].dtype == bool and m["flags"].tolist() == [True, False, True]
        assert m["ints"].dtype == np.int32
    with pytest.raises(ValueError, match="64 bits"):
        GGUFWriter().add("huge", 2**64)


@pytest.mark.parametrize("alignment", [0, 3, 48, 2**32])
def test_our_writer_refuses_an_alignment_readers_reject(alignment):
    with pytest.raises(ValueError, match="power of two"):
        GGUFWriter(alignment=alignment)


def test_raw_is_a_view_of_the_mapped_file(tmp_path):
    path = rich_seed().build().write(tmp_path / "rich.gguf")
    with open_gguf(path) as f:
        view = f.raw("token_embd.weight")
        assert view.dtype == np.uint8 and not view.flags.owndata and not view.flags.writeable
        assert isinstance(view.base.obj, mmap.mmap)
        del view


def test_large_sparse_file_is_not_read_at_open(tmp_path):
    """A 16 GiB tensor in a sparse file: open and raw() must neither read nor allocate it."""
    n = 2**32  # F32 elements: 16 GiB
    b = GGUFBuilder().kv("general.architecture", V.STRING, "x").tensor("big", (n,), GGMLType.F32, data=b"")
    built = b.build()
    path = tmp_path / "sparse.gguf"
    with open(path, "wb") as fh:
        fh.write(built.data)
        fh.truncate(built.data_offset + 4 * n)
    tracemalloc.start()
    try:
        t0 = time.perf_counter()
        with open_gguf(path) as f:
            view = f.raw("big")
            assert view.nbytes == 4 * n and int(view[-1]) == 0
            del view
        elapsed = time.perf_counter() - t0
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert elapsed < 1.0
    assert peak < 1 << 20


def test_tokenizer_sized_header_parses_in_about_a_second(tmp_path):
    """GPT-OSS's vocabulary: 201,088 tokens and ~446k merges, all in the header."""
    tokens = [f"tok{i}\u0120x" for i in range(201_088)]
    merges = [f"t{i} m{i % 977}" for i in range(446_000)]
    b = GGUFBuilder().kv("general.architecture", V.STRING, "gpt-oss")
    b.kv("tokenizer.ggml.tokens", V.ARRAY, Arr(V.STRING, tokens))
    b.kv("tokenizer.ggml.merges", V.ARRAY, Arr(V.STRING, merges))
    path = b.tensor("w", (32,), GGMLType.F32).build().write(tmp_path / "vocab.gguf")
    start = time.perf_counter()
    with open_gguf(path) as f:
        elapsed = time.perf_counter() - start
        assert f.metadata["tokenizer.ggml.tokens"] == tokens
        assert f.metadata["tokenizer.ggml.merges"] == merges
    assert elapsed < 1.0, f"{elapsed:.2f} s"
