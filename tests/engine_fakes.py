"""Test-only fakes for the engine and chat tests: deterministic NumPy runners and small tokenizers.

None of this is used by the runtime itself.
"""
from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, pre_tokenizers
from tokenizers.pre_tokenizers import ByteLevel

from pydantic import BaseModel, Field

HARMONY_FIXTURES = Path(__file__).parent / "fixtures" / "harmony"


class TokenizerInfo(BaseModel):
    """The fields of ``runtime.tokenizer.TokenizerInfo`` the engine reads (kept here so the fakes stand alone)."""

    model: str
    vocab_size: int
    bos_id: int | None = None
    eos_id: int | None = None
    eot_id: int | None = None
    pad_id: int | None = None
    unk_id: int | None = None
    add_bos: bool = False
    add_eos: bool = False
    chat_template: str | None = None
    special_tokens: dict[str, int] = Field(default_factory=dict)


class FakeBigramRunner:
    """A 'model' whose next-token logits depend only on the current token: a fixed random table."""

    def __init__(self, vocab_size: int, *, seed: int = 0, context_length: int = 4096, scale: float = 3.0):
        self.vocab_size, self.context_length = vocab_size, context_length
        self.table = (np.random.default_rng(seed).standard_normal((vocab_size, vocab_size)) * scale
                      ).astype(np.float32)
        self.calls: list[list[int]] = []
        self.resets = 0
        self.position = 0

    def reset(self) -> None:
        self.resets += 1
        self.position = 0

    def forward(self, token_ids: Sequence[int], *, logits_for: str = "all") -> np.ndarray:
        ids = list(token_ids)
        self.position += len(ids)
        assert self.position <= self.context_length, "fed past the context length"
        self.calls.append(ids)
        return self.table[ids[-1:] if logits_for == "last" else ids]

    def forward_greedy(self, token_ids: Sequence[int]) -> int:
        return int(np.argmax(self.forward(token_ids, logits_for="last")[-1]))


class FakeScriptedRunner:
    """A 'model' that makes ``script[k]`` the clear argmax after its k-th forward call (no
    ``forward_greedy``: greedy decoding takes the argmax of its logits)."""

    def __init__(self, script: Sequence[int], vocab_size: int, *, context_length: int = 4096):
        self.script, self.vocab_size, self.context_length = list(script), vocab_size, context_length
        self.calls: list[list[int]] = []

    def reset(self) -> None:
        self.calls = []

    def forward(self, token_ids: Sequence[int], *, logits_for: str = "all") -> np.ndarray:
        ids = list(token_ids)
        row = np.zeros(self.vocab_size, dtype=np.float32)
        row[self.script[len(self.calls)]] = 20.0
        self.calls.append(ids)
        return np.tile(row, (1 if logits_for == "last" else len(ids), 1))


class FakeStreamDecoder:
    """Emits text once it no longer ends in an incomplete UTF-8 sequence (decoded as U+FFFD)."""

    def __init__(self, tokenizer: FakeTokenizer, skip_special: bool):
        self.tokenizer, self.skip_special = tokenizer, skip_special
        self.ids: list[int] = []
        self.emitted = 0

    def feed(self, token_id: int) -> str:
        self.ids.append(token_id)
        text = self.tokenizer.decode(self.ids, skip_special=self.skip_special)
        if text.endswith("\ufffd"):
            return ""
        piece, self.emitted = text[self.emitted:], len(text)
        return piece

    def flush(self) -> str:
        text = self.tokenizer.decode(self.ids, skip_special=self.skip_special)
        piece, self.emitted = text[self.emitted:], len(text)
        return piece


class FakeTokenizer:
    """The runtime Tokenizer interface over an HF ``tokenizers.Tokenizer`` built in the tests."""

    def __init__(self, hf: Tokenizer, info: TokenizerInfo):
        self.hf, self.info = hf, info

    def encode(self, text: str, *, add_special: bool = True, parse_special: bool = True) -> list[int]:
        ids = self.hf.encode(text, add_special_tokens=False).ids
        return ([self.info.bos_id] if add_special and self.info.add_bos else []) + ids

    def decode(self, ids: Sequence[int], *, skip_special: bool = False) -> str:
        return self.hf.decode(list(ids), skip_special_tokens=skip_special)

    def token_to_id(self, token: str) -> int | None:
        return self.hf.token_to_id(token)

    def stream_decoder(self, *, skip_special: bool = False) -> FakeStreamDecoder:
        return FakeStreamDecoder(self, skip_special)


BYTE_MERGES = [("h", "e"), ("l", "l"), ("l", "o"), ("Ġ", "w"), ("o", "r"), ("Ġw", "or"), ("l", "d"), ("he", "ll")]
BYTE_SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]


def fake_byte_tokenizer(chat_template: str | None = None) -> FakeTokenizer:
    """Byte-level BPE: 256 byte tokens, a few merges, then ChatML-style special tokens."""
    alphabet = ByteLevel.alphabet()
    byte_chars = sorted(alphabet, key=lambda ch: _byte_of(ch))
    vocab = {ch: i for i, ch in enumerate(byte_chars)}
    for a, b in BYTE_MERGES:
        vocab[a + b] = len(vocab)
    hf = Tokenizer(models.BPE(vocab=vocab, merges=BYTE_MERGES))
    hf.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    hf.decoder = decoders.ByteLevel()
    hf.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in BYTE_SPECIALS])
    specials = {t: hf.token_to_id(t) for t in BYTE_SPECIALS}
    info = TokenizerInfo(model="gpt2", vocab_size=hf.get_vocab_size(), bos_id=specials["<|endoftext|>"],
                         eos_id=specials["<|endoftext|>"], eot_id=specials["<|im_end|>"], add_bos=True,
                         chat_template=chat_template, special_tokens=specials)
    return FakeTokenizer(hf, info)


def _byte_of(ch: str) -> int:
    """Inverse of GPT-2's bytes_to_unicode for one character."""
    code = ord(ch)
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + \
        list(range(ord("®"), ord("ÿ") + 1))
    if code in printable:
        return code
    others = [b for b in range(256) if b not in printable]
    return others[code - 256]


def fake_o200k_piece_tokenizer() -> FakeTokenizer:
    """o200k_harmony ids for the pieces the harmony fixtures use, plus printable ASCII bytes.

    Words split greedily into the longest known piece, which reproduces o200k's split on the
    fixture texts (their ids come from OpenAI's published examples); harmony specials are special.
    """
    pieces = json.loads((HARMONY_FIXTURES / "o200k_pieces.json").read_text())
    vocab = {chr(b): b - 33 for b in range(33, 127)} | {" ": 220, "\n": 198}
    vocab |= {text: int(i) for text, i in pieces["pieces"].items()}
    specials = pieces["special_tokens"]
    vocab |= {text: int(i) for text, i in specials.items()}
    alternation = "|".join(re.escape(p) for p in sorted(vocab, key=len, reverse=True))
    hf = Tokenizer(models.WordLevel(vocab=vocab, unk_token="!"))
    hf.pre_tokenizer = pre_tokenizers.Split(Regex(alternation), behavior="isolated")
    hf.decoder = decoders.Fuse()
    hf.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in specials])
    info = TokenizerInfo(model="gpt2", vocab_size=max(vocab.values()) + 1, bos_id=specials["<|startoftext|>"],
                         eos_id=specials["<|return|>"], pad_id=specials["<|endoftext|>"],
                         special_tokens={t: int(i) for t, i in specials.items()})
    return FakeTokenizer(hf, info)
