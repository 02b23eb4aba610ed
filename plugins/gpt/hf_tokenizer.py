"""A Hugging Face ``tokenizer.json`` (byte-level BPE) as llama.cpp's ``tokenizer.ggml.*`` keys."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from runtime.errors import ConfigError

# llama.cpp's token types
NORMAL, CONTROL, USER_DEFINED, UNUSED = 1, 3, 4, 5
#: tokenizer.ggml.pre per architecture (llama.cpp's pre-tokenizer names)
PRE_TOKENIZER = {"gpt-oss": "gpt-4o", "gpt2": "gpt-2"}


def tokenizer_json_metadata(hf_dir: Path, vocab_size: int, arch: str) -> dict[str, Any]:
    tok = json.loads((hf_dir / "tokenizer.json").read_text())
    model = tok.get("model", {})
    if model.get("type") != "BPE":
        raise ConfigError(f"{hf_dir}/tokenizer.json: model type {model.get('type')!r} is not BPE")
    tokens: list[str | None] = [None] * vocab_size
    types = np.full(vocab_size, NORMAL, dtype=np.int32)
    for piece, i in model["vocab"].items():
        if i < vocab_size:
            tokens[i] = piece
    for added in tok.get("added_tokens", []):
        i = added["id"]
        if i < vocab_size:
            tokens[i] = added["content"]
            types[i] = CONTROL if added.get("special") else USER_DEFINED
    for i, piece in enumerate(tokens):
        if piece is None:
            tokens[i], types[i] = f"[PAD{i}]", UNUSED
    merges = [m if isinstance(m, str) else " ".join(m) for m in model.get("merges", [])]
    meta: dict[str, Any] = {"tokenizer.ggml.model": "gpt2", "tokenizer.ggml.pre": PRE_TOKENIZER[arch],
                            "tokenizer.ggml.tokens": tokens, "tokenizer.ggml.token_type": types,
                            "tokenizer.ggml.merges": merges}
    meta |= _special_ids(hf_dir, tokens)
    return meta


def _special_ids(hf_dir: Path, tokens: list[str]) -> dict[str, Any]:
    """bos/eos/pad ids and the chat template from tokenizer_config.json, when given."""
    path = hf_dir / "tokenizer_config.json"
    if not path.is_file():
        return {}
    cfg = json.loads(path.read_text())
    index = {piece: i for i, piece in enumerate(tokens)}
    meta: dict[str, Any] = {}
    for role in ("bos", "eos", "pad"):
        token = cfg.get(f"{role}_token")
        if isinstance(token, dict):
            token = token.get("content")
        if isinstance(token, str) and token in index:
            meta[f"tokenizer.ggml.{role}_token_id"] = index[token]
    if isinstance(cfg.get("chat_template"), str):
        meta["tokenizer.chat_template"] = cfg["chat_template"]
    return meta
