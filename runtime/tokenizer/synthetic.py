"""Tokenizer metadata for synthetic test models (``plugrt synth``): a small trained byte-level BPE
padded to any vocabulary size, with GPT-OSS harmony or GPT-2 special tokens."""
from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from runtime.tokenizer.errors import TokenizerError
from runtime.tokenizer.info import TOKEN_CONTROL, TOKEN_NORMAL

BASE_BPE_PATH = Path(__file__).with_name("byte_bpe.json")  # package data, see scripts/make_tokenizer_fixtures.py

O200K_HARMONY_VOCAB_SIZE = 201088
# o200k_harmony's special tokens at their real ids; the other ids from 199998 up are reserved
HARMONY_IDS = {
    "<|startoftext|>": 199998, "<|endoftext|>": 199999, "<|return|>": 200002, "<|constrain|>": 200003,
    "<|channel|>": 200005, "<|start|>": 200006, "<|end|>": 200007, "<|message|>": 200008,
    "<|call|>": 200012, "<|endofprompt|>": 200018,
}
GPT2_VOCAB_SIZE, GPT2_EOT_ID = 50257, 50256

HARMONY_CHAT_TEMPLATE = (
    "{% for m in messages %}<|start|>{{ m['role'] }}<|message|>{{ m['content'] }}<|end|>{% endfor %}"
    "{% if add_generation_prompt %}<|start|>assistant{% endif %}"
)

FLAVOURS = ("gpt-oss", "gpt2")


@lru_cache(maxsize=1)
def base_bpe() -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(tokens, merges) of the packaged BPE; token i >= 256 is the result of merge i - 256."""
    data = json.loads(BASE_BPE_PATH.read_text(encoding="utf-8"))
    return tuple(data["tokens"]), tuple(data["merges"])


def _layout(vocab_size: int, flavour: str) -> dict[str, int]:
    """Special token -> id for the flavour; real ids where the size matches the real tokenizer."""
    if flavour == "gpt2":
        return {"<|endoftext|>": GPT2_EOT_ID if vocab_size == GPT2_VOCAB_SIZE else vocab_size - 1}
    if vocab_size == O200K_HARMONY_VOCAB_SIZE:
        reserved = set(range(min(HARMONY_IDS.values()), vocab_size)) - set(HARMONY_IDS.values())
        return {**HARMONY_IDS, **{f"<|reserved_{i}|>": i for i in sorted(reserved)}}
    first = vocab_size - len(HARMONY_IDS)
    return {tok: first + k for k, tok in enumerate(sorted(HARMONY_IDS, key=HARMONY_IDS.get))}


def synthetic_vocab_metadata(vocab_size: int, flavour: str) -> dict[str, Any]:
    """GGUF ``tokenizer.*`` metadata of exactly ``vocab_size`` tokens.

    ``flavour`` "gpt-oss": pre ``gpt-4o`` and the harmony control tokens (at their o200k_harmony ids
    when ``vocab_size`` is 201088, else at the end of the vocabulary); "gpt2": pre ``gpt-2`` and
    ``<|endoftext|>``. Ids between the BPE and the special tokens are filler tokens no text encodes to.
    """
    if flavour not in FLAVOURS:
        raise TokenizerError(f"unknown synthetic tokenizer flavour {flavour!r}; choose from {FLAVOURS}")
    specials = _layout(vocab_size, flavour)
    first_special = min(specials.values())
    tokens, merges = base_bpe()
    if first_special < 256 + 1:
        raise TokenizerError(f"vocab_size {vocab_size} leaves no room for the byte alphabet and specials")
    n_bpe = min(len(tokens), first_special)
    all_tokens = list(tokens[:n_bpe])
    all_tokens += [f"<|filler_{i}|>" for i in range(n_bpe, first_special)]
    types = np.full(vocab_size, TOKEN_NORMAL, dtype=np.int32)
    for text, token_id in specials.items():
        types[token_id] = TOKEN_CONTROL
    by_id = {i: t for t, i in specials.items()}
    all_tokens += [by_id.get(i) or f"<|filler_{i}|>" for i in range(first_special, vocab_size)]
    metadata: dict[str, Any] = {
        "tokenizer.ggml.model": "gpt2",
        "tokenizer.ggml.pre": "gpt-4o" if flavour == "gpt-oss" else "gpt-2",
        "tokenizer.ggml.tokens": all_tokens,
        "tokenizer.ggml.token_type": types,
        "tokenizer.ggml.merges": list(merges[:n_bpe - 256]),
        "tokenizer.ggml.add_bos_token": False,
        "tokenizer.ggml.add_eos_token": False,
    }
    if flavour == "gpt-oss":
        metadata.update({
            "tokenizer.ggml.bos_token_id": specials["<|startoftext|>"],
            "tokenizer.ggml.eos_token_id": specials["<|return|>"],
            "tokenizer.ggml.padding_token_id": specials["<|endoftext|>"],
            "tokenizer.chat_template": HARMONY_CHAT_TEMPLATE,
        })
    else:
        eot = specials["<|endoftext|>"]
        metadata.update({"tokenizer.ggml.bos_token_id": eot, "tokenizer.ggml.eos_token_id": eot})
    return metadata
