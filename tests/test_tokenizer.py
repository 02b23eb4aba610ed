"""Tokenizer construction, metadata (GT-003), tokenizer.json, synthetic vocabularies, speed."""
from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest

from runtime.errors import ConfigError
from runtime.gguf import GGUFWriter, open_gguf
from runtime.tokenizer import TokenizerError, synthetic_vocab_metadata, tokenizer_from_gguf
from runtime.tokenizer.chunking import split_at_safe_boundaries

CORPUS = json.loads((Path(__file__).parent / "fixtures" / "tokenizer" / "corpus.json").read_text(encoding="utf-8"))
HARMONY = {"<|startoftext|>": 199998, "<|endoftext|>": 199999, "<|return|>": 200002, "<|constrain|>": 200003,
           "<|channel|>": 200005, "<|start|>": 200006, "<|end|>": 200007, "<|message|>": 200008, "<|call|>": 200012}


@pytest.fixture(scope="module")
def gpt_oss():
    return tokenizer_from_gguf(synthetic_vocab_metadata(4096, "gpt-oss"), vocab_size=4096)


def _megabyte_text() -> str:
    text = "\n".join(CORPUS) + "\n"
    text *= 1_000_000 // len(text.encode()) + 1
    return text.encode()[:1_000_000].decode("utf-8", errors="ignore")


def test_info_exposes_ids_flags_and_template(gpt_oss):
    info = gpt_oss.info
    assert (info.model, info.pre, info.vocab_size) == ("gpt2", "gpt-4o", 4096)
    assert gpt_oss.id_to_token(info.bos_id) == "<|startoftext|>"
    assert gpt_oss.id_to_token(info.eos_id) == "<|return|>"
    assert gpt_oss.id_to_token(info.pad_id) == "<|endoftext|>"
    assert not info.add_bos and not info.add_eos
    assert "<|start|>" in info.chat_template
    assert set(HARMONY) <= set(info.special_tokens)
    assert gpt_oss.encode("hi", add_special=True) == gpt_oss.encode("hi", add_special=False)


def test_real_harmony_ids_at_o200k_vocab_size():
    start = time.perf_counter()
    metadata = synthetic_vocab_metadata(201088, "gpt-oss")
    assert time.perf_counter() - start < 2.0
    assert len(metadata["tokenizer.ggml.tokens"]) == 201088
    tok = tokenizer_from_gguf(metadata, vocab_size=201088)
    for name, token_id in HARMONY.items():
        assert tok.token_to_id(name) == token_id
    assert tok.id_to_token(200018) == "<|endofprompt|>" and tok.id_to_token(201087) == "<|reserved_201087|>"
    user, hi = tok.encode("user"), tok.encode("hi")
    assert tok.encode("<|start|>user<|message|>hi<|end|>") == [200006, *user, 200008, *hi, 200007]
    small = tokenizer_from_gguf(synthetic_vocab_metadata(4096, "gpt-oss"))
    for text in CORPUS:  # same BPE, only the special ids moved
        if "<|" not in text:
            assert tok.encode(text) == small.encode(text)


@pytest.mark.parametrize("vocab_size", [512, 1000, 50257])
def test_synthetic_gpt2_flavour_pads_to_any_size(vocab_size):
    tok = tokenizer_from_gguf(synthetic_vocab_metadata(vocab_size, "gpt2"), vocab_size=vocab_size)
    eot = tok.token_to_id("<|endoftext|>")
    assert eot == (50256 if vocab_size == 50257 else vocab_size - 1) == tok.info.eos_id
    assert tok.info.pre == "gpt-2"
    for text in CORPUS:
        ids = tok.encode(text)
        assert max(ids, default=0) < vocab_size
        assert tok.decode(ids) == text


def test_synthetic_vocab_rejects_unknown_flavour_and_tiny_sizes():
    with pytest.raises(TokenizerError, match="flavour"):
        synthetic_vocab_metadata(4096, "bert")
    with pytest.raises(TokenizerError):
        synthetic_vocab_metadata(200, "gpt-oss")


def test_metadata_survives_a_gguf_file(tmp_path, gpt_oss):
    writer = GGUFWriter()
    for key, value in synthetic_vocab_metadata(4096, "gpt-oss").items():
        writer.add(key, value)
    writer.write(tmp_path / "vocab.gguf", show_progress=False)
    with open_gguf(tmp_path / "vocab.gguf") as gguf:
        tok = tokenizer_from_gguf(gguf.metadata, vocab_size=4096)
    for text in CORPUS:
        assert tok.encode(text) == gpt_oss.encode(text)


def test_tokenizer_json_wins_over_gguf_vocab(tmp_path, gpt_oss):
    path = tmp_path / "tokenizer.json"
    gpt_oss.hf.save(str(path))
    metadata = {k: v for k, v in synthetic_vocab_metadata(4096, "gpt-oss").items()
                if not k.endswith((".tokens", ".merges", ".token_type"))}
    tok = tokenizer_from_gguf({**metadata, "tokenizer.ggml.tokens": ["bogus"]}, tokenizer_json=path, vocab_size=4096)
    assert tok.info.vocab_size == 4096 and tok.info.model == "gpt2" and tok.info.eos_id == gpt_oss.info.eos_id
    for text in CORPUS:
        ids = tok.encode(text)
        assert ids == gpt_oss.encode(text)
        assert tok.decode(ids) == text
    with pytest.raises(TokenizerError, match="4096 tokens but the model has only 4000"):
        tokenizer_from_gguf(metadata, tokenizer_json=path, vocab_size=4000)
    assert tokenizer_from_gguf(metadata, tokenizer_json=path, vocab_size=4352).info.vocab_size == 4096  # padded model
    with pytest.raises(TokenizerError, match="cannot load"):
        tokenizer_from_gguf(metadata, tokenizer_json=tmp_path / "missing.json")


def test_errors_name_the_problem():
    metadata = synthetic_vocab_metadata(4096, "gpt-oss")
    with pytest.raises(ConfigError, match="4096 tokens but the model has 4000"):
        tokenizer_from_gguf(metadata, vocab_size=4000)
    with pytest.raises(TokenizerError, match="unsupported tokenizer.ggml.pre 'qwen2'"):
        tokenizer_from_gguf({**metadata, "tokenizer.ggml.pre": "qwen2"})
    with pytest.raises(TokenizerError, match="unsupported tokenizer.ggml.model 'bert'"):
        tokenizer_from_gguf({**metadata, "tokenizer.ggml.model": "bert"})
    with pytest.raises(TokenizerError, match="needs tokenizer.ggml.merges"):
        tokenizer_from_gguf({k: v for k, v in metadata.items() if k != "tokenizer.ggml.merges"})
    with pytest.raises(TokenizerError, match="eos_token_id = 5000 is outside"):
        tokenizer_from_gguf({**metadata, "tokenizer.ggml.eos_token_id": 5000})
    with pytest.raises(TokenizerError, match="token_type has 3 entries"):
        tokenizer_from_gguf({**metadata, "tokenizer.ggml.token_type": np.ones(3, dtype=np.int32)})
    with pytest.raises(TokenizerError, match="no tokenizer.ggml.tokens"):
        tokenizer_from_gguf({})
    assert issubclass(TokenizerError, ConfigError)


def test_encode_batch_equals_encode(gpt_oss):
    assert gpt_oss.encode_batch(CORPUS) == [gpt_oss.encode(t) for t in CORPUS]
    assert gpt_oss.encode_batch(["<|end|>"], parse_special=False) == [gpt_oss.encode("<|end|>", parse_special=False)]


def test_decode_rejects_ids_outside_the_vocabulary(gpt_oss):
    with pytest.raises(TokenizerError, match="token id 4096"):
        gpt_oss.decode([1, 4096])
    assert gpt_oss.id_to_token(4096) is None and gpt_oss.token_to_id("no such token") is None


def test_chunked_encoding_equals_whole_text_encoding(gpt_oss):
    text = _megabyte_text()[:200_000] + "x!\n/path\n\n  <|start|>\n"
    chunks = split_at_safe_boundaries(text, 700)
    assert len(chunks) > 100 and "".join(chunks) == text
    whole = gpt_oss.hf.encode(text, add_special_tokens=False).ids
    assert gpt_oss.encode(text, add_special=False) == whole


def test_encoding_a_megabyte_is_fast(gpt_oss):
    text = _megabyte_text()
    gpt_oss.encode(text[:10_000])  # warm the thread pool
    start = time.perf_counter()
    ids = gpt_oss.encode(text)
    assert time.perf_counter() - start < 1.0
    assert gpt_oss.decode(ids) == text
