"""Tokenizer metadata exposed to callers (GT-003), read from GGUF ``tokenizer.*`` keys."""
from __future__ import annotations

from typing import Any

import pydantic

from runtime.tokenizer.errors import TokenizerError

# llama.cpp token types (gguf-py TokenType)
TOKEN_NORMAL, TOKEN_UNKNOWN, TOKEN_CONTROL, TOKEN_USER_DEFINED, TOKEN_UNUSED, TOKEN_BYTE = 1, 2, 3, 4, 5, 6

KEY_PREFIX = "tokenizer.ggml."


class TokenizerInfo(pydantic.BaseModel):
    """What a caller needs to know about a tokenizer besides encode/decode."""

    model: str  # "gpt2" (byte-level BPE) or "llama" (SentencePiece-style)
    pre: str | None = None
    vocab_size: int
    bos_id: int | None = None
    eos_id: int | None = None
    eot_id: int | None = None
    pad_id: int | None = None
    unk_id: int | None = None
    add_bos: bool = False
    add_eos: bool = False
    add_space_prefix: bool = False
    chat_template: str | None = None
    special_tokens: dict[str, int] = pydantic.Field(default_factory=dict)  # control + user-defined tokens


def _token_id(metadata: dict[str, Any], key: str, vocab_size: int) -> int | None:
    value = metadata.get(KEY_PREFIX + key)
    if value is None:
        return None
    value = int(value)
    if not 0 <= value < vocab_size:
        raise TokenizerError(f"{KEY_PREFIX}{key} = {value} is outside the vocabulary (size {vocab_size})")
    return value


def special_ids_from_metadata(metadata: dict[str, Any], vocab_size: int) -> dict[str, int | None]:
    """bos/eos/eot/pad/unk ids from GGUF keys, each checked to lie inside the vocabulary."""
    return {
        "bos_id": _token_id(metadata, "bos_token_id", vocab_size),
        "eos_id": _token_id(metadata, "eos_token_id", vocab_size),
        "eot_id": _token_id(metadata, "eot_token_id", vocab_size),
        "pad_id": _token_id(metadata, "padding_token_id", vocab_size),
        "unk_id": _token_id(metadata, "unknown_token_id", vocab_size),
    }


def flags_from_metadata(metadata: dict[str, Any], model: str) -> dict[str, bool]:
    """add_bos/add_eos/add_space_prefix with llama.cpp's defaults when a key is absent."""
    spm = model == "llama"
    return {
        "add_bos": bool(metadata.get(KEY_PREFIX + "add_bos_token", spm)),
        "add_eos": bool(metadata.get(KEY_PREFIX + "add_eos_token", False)),
        "add_space_prefix": bool(metadata.get(KEY_PREFIX + "add_space_prefix", spm)),
    }
