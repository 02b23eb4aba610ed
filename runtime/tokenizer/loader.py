"""Build a :class:`Tokenizer` from GGUF ``tokenizer.*`` metadata or a ``tokenizer.json``."""
from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

import numpy as np
from tokenizers import Tokenizer as HFTokenizer

from runtime.tokenizer.byte_pieces import SPM_SPACE, piece_table
from runtime.tokenizer.errors import TokenizerError
from runtime.tokenizer.gguf_bpe import build_byte_level_bpe
from runtime.tokenizer.gguf_spm import build_sentencepiece_bpe
from runtime.tokenizer.info import (KEY_PREFIX, TOKEN_BYTE, TOKEN_CONTROL, TOKEN_NORMAL, TOKEN_UNKNOWN,
                                    TokenizerInfo, flags_from_metadata, special_ids_from_metadata)
from runtime.tokenizer.special import apply_llama_cpp_type_overrides, register_special_tokens
from runtime.tokenizer.tokenizer import Tokenizer

log = logging.getLogger(__name__)

SUPPORTED_MODELS = ("gpt2", "llama")


def tokenizer_from_gguf(metadata: dict[str, Any], *, tokenizer_json: str | os.PathLike | None = None,
                        vocab_size: int | None = None) -> Tokenizer:
    """The tokenizer a GGUF file describes. A ``tokenizer_json`` wins over the GGUF vocabulary.

    ``vocab_size`` is the model's (embedding rows): the GGUF vocabulary must match it exactly; a
    tokenizer.json must not exceed it (models pad their embeddings, e.g. GPT-OSS 200019 -> 201088).
    """
    if tokenizer_json is not None:
        return _from_tokenizer_json(Path(tokenizer_json), metadata, vocab_size)
    tokens = metadata.get(KEY_PREFIX + "tokens")
    if tokens is None:
        raise TokenizerError(f"GGUF metadata has no {KEY_PREFIX}tokens; pass a tokenizer.json")
    tokens = list(tokens)
    if vocab_size is not None and len(tokens) != vocab_size:
        raise TokenizerError(f"GGUF vocabulary has {len(tokens)} tokens but the model has {vocab_size} rows")
    model = metadata.get(KEY_PREFIX + "model")
    if model not in SUPPORTED_MODELS:
        raise TokenizerError(f"unsupported {KEY_PREFIX}model {model!r}; supported: {list(SUPPORTED_MODELS)}")
    types = apply_llama_cpp_type_overrides(
        tokens, _array(metadata, "token_type", len(tokens), np.int32, default=TOKEN_NORMAL))
    ids = special_ids_from_metadata(metadata, len(tokens))
    flags = flags_from_metadata(metadata, model)
    pre = metadata.get(KEY_PREFIX + "pre")

    if model == "gpt2":
        merges = metadata.get(KEY_PREFIX + "merges")
        if merges is None:
            raise TokenizerError(f"{KEY_PREFIX}model 'gpt2' needs {KEY_PREFIX}merges")
        hf = build_byte_level_bpe(tokens, merges, pre)
        pieces = piece_table(tokens, byte_level=True)
        flags["add_space_prefix"] = False
    else:
        scores = _array(metadata, "scores", len(tokens), np.float32, default=0.0)
        unk = tokens[ids["unk_id"]] if ids["unk_id"] is not None else None
        hf = build_sentencepiece_bpe(tokens, scores, types, add_space_prefix=flags["add_space_prefix"],
                                     unk_token=unk)
        byte_ids = set(np.nonzero(types == TOKEN_BYTE)[0].tolist())
        pieces = piece_table(tokens, byte_level=False, byte_token_ids=byte_ids)
    special = register_special_tokens(hf, tokens, types)
    if model == "gpt2":
        for text, i in special.items():
            pieces[i] = text.encode("utf-8")  # special tokens render as their text, never byte-mapped
    info = TokenizerInfo(model=model, pre=pre, vocab_size=len(tokens), **ids, **flags,
                         chat_template=metadata.get("tokenizer.chat_template"), special_tokens=special)
    control = np.nonzero(np.isin(types, (TOKEN_CONTROL, TOKEN_UNKNOWN)))[0]
    log.info("tokenizer: %s/%s, %d tokens, %d special", model, pre, len(tokens), len(special))
    chunkable = model == "gpt2" and not any("\n" in text for text in special)
    return Tokenizer(hf, info, tokens=tokens, pieces=pieces, special_ids=special.values(), control_ids=control,
                     newline_safe_chunks=chunkable)


def _array(metadata: dict[str, Any], key: str, n: int, dtype, *, default) -> np.ndarray:
    value = metadata.get(KEY_PREFIX + key)
    if value is None:
        return np.full(n, default, dtype=dtype)
    arr = np.asarray(value, dtype=dtype)
    if arr.shape != (n,):
        raise TokenizerError(f"{KEY_PREFIX}{key} has {arr.size} entries, {KEY_PREFIX}tokens has {n}")
    return arr


def _from_tokenizer_json(path: Path, metadata: dict[str, Any], vocab_size: int | None) -> Tokenizer:
    try:
        hf = HFTokenizer.from_file(str(path))
        spec = json.loads(path.read_text(encoding="utf-8"))
    except Exception as exc:  # tokenizers raises plain Exception on bad files
        raise TokenizerError(f"cannot load tokenizer.json {path}: {exc}") from exc
    n = hf.get_vocab_size(with_added_tokens=True)
    if vocab_size is not None and n > vocab_size:
        raise TokenizerError(f"{path} has {n} tokens but the model has only {vocab_size} rows")
    by_id = {i: t for t, i in hf.get_vocab(with_added_tokens=True).items()}
    if len(by_id) != n or max(by_id, default=-1) != n - 1:
        raise TokenizerError(f"{path}: token ids are not the contiguous range 0..{n - 1}")
    tokens = [by_id[i] for i in range(n)]
    added = {int(t["id"]): t for t in spec.get("added_tokens", [])}
    byte_level = any(node.get("type") == "ByteLevel" for part in ("decoder", "pre_tokenizer")
                     for node in _nodes(spec.get(part)))
    model = "gpt2" if byte_level else "llama"
    flags = flags_from_metadata(metadata, model) if KEY_PREFIX + "model" in metadata else \
        {"add_bos": False, "add_eos": False, "add_space_prefix": False}
    flags["add_space_prefix"] = not byte_level and _prepends_space(spec)
    pieces = piece_table(tokens, byte_level=byte_level)
    for i, tok in added.items():
        pieces[i] = tok["content"].encode("utf-8")  # added tokens are plain text, never byte-mapped
    special = {tok["content"]: i for i, tok in added.items()}
    ids = special_ids_from_metadata(metadata, n) if KEY_PREFIX + "model" in metadata else {}
    info = TokenizerInfo(model=model, pre=metadata.get(KEY_PREFIX + "pre"), vocab_size=n, **ids, **flags,
                         chat_template=metadata.get("tokenizer.chat_template"), special_tokens=special)
    control = [i for i, tok in added.items() if tok.get("special")]
    log.info("tokenizer from %s: %s, %d tokens, %d added", path, model, n, len(added))
    return Tokenizer(hf, info, tokens=tokens, pieces=pieces, special_ids=added.keys(), control_ids=control)


def _nodes(tree: Any):
    """Every component dict of a tokenizer.json section, nested Sequences included."""
    if isinstance(tree, dict):
        yield tree
        for value in tree.values():
            yield from _nodes(value)
    elif isinstance(tree, list):
        for value in tree:
            yield from _nodes(value)


def _prepends_space(spec: dict[str, Any]) -> bool:
    """Whether a SentencePiece-style tokenizer.json puts U+2581 in front of the text."""
    prepend = any(n.get("type") == "Prepend" and n.get("prepend") == SPM_SPACE for n in _nodes(spec.get("normalizer")))
    metaspace = any(n.get("type") == "Metaspace" and n.get("prepend_scheme", "always") != "never"
                    for n in _nodes(spec.get("pre_tokenizer")))
    return prepend or metaspace
