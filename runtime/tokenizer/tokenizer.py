"""The tokenizer object the engine uses: HF ``tokenizers`` for encoding, a byte table for decoding."""
from __future__ import annotations

import threading
from contextlib import contextmanager
from typing import Iterable

from tokenizers import Tokenizer as HFTokenizer

from runtime.tokenizer import chunking
from runtime.tokenizer.errors import TokenizerError
from runtime.tokenizer.info import TokenizerInfo
from runtime.tokenizer.stream import StreamDecoder


class Tokenizer:
    """Encode/decode with llama.cpp-compatible token ids.

    ``pieces[i]`` are the raw bytes token ``i`` stands for. Decoding joins bytes and
    decodes UTF-8 once, so a character split over several tokens comes out whole.
    With ``info.add_space_prefix`` (SentencePiece), encoding puts a space in front of
    the text and after every special token; decoding drops exactly that space again,
    so ``decode(encode(s)) == s``.
    """

    def __init__(self, hf: HFTokenizer, info: TokenizerInfo, *, tokens: list[str], pieces: list[bytes],
                 special_ids: Iterable[int], control_ids: Iterable[int], newline_safe_chunks: bool = False):
        if not len(tokens) == len(pieces) == info.vocab_size:
            raise TokenizerError(f"tokenizer tables disagree: {len(tokens)} tokens, {len(pieces)} pieces, "
                                 f"vocab_size {info.vocab_size}")
        self.hf = hf
        self.info = info
        self._tokens = tokens
        self._pieces = pieces
        self._special_ids = frozenset(int(i) for i in special_ids)  # fragment boundaries: matched whole
        self._control_ids = frozenset(int(i) for i in control_ids)  # dropped by skip_special
        self._encode_lock = threading.Lock()  # encode_special_tokens is a setting on the shared HF object
        self._newline_safe_chunks = newline_safe_chunks  # long texts may be encoded in parallel pieces

    @property
    def vocab_size(self) -> int:
        return self.info.vocab_size

    def encode(self, text: str, *, add_special: bool = True, parse_special: bool = True) -> list[int]:
        """Token ids of ``text``. ``add_special`` adds BOS/EOS as the model's flags say;
        ``parse_special`` turns control-token text into its id (user-defined tokens always are)."""
        chunks = chunking.split_at_safe_boundaries(text) if self._newline_safe_chunks else [text]
        with self._special_parsing(parse_special):
            if len(chunks) == 1:
                ids = self.hf.encode(text, add_special_tokens=False).ids
            else:
                ids = [i for e in self.hf.encode_batch(chunks, add_special_tokens=False) for i in e.ids]
        if add_special:
            if self.info.add_bos and self.info.bos_id is not None:
                ids.insert(0, self.info.bos_id)
            if self.info.add_eos and self.info.eos_id is not None:
                ids.append(self.info.eos_id)
        return ids

    def encode_batch(self, texts: list[str], *, add_special: bool = True, parse_special: bool = True) -> list[list[int]]:
        with self._special_parsing(parse_special):
            batch = [e.ids for e in self.hf.encode_batch(texts, add_special_tokens=False)]
        if add_special:
            head = [self.info.bos_id] if self.info.add_bos and self.info.bos_id is not None else []
            tail = [self.info.eos_id] if self.info.add_eos and self.info.eos_id is not None else []
            batch = [head + ids + tail for ids in batch]
        return batch

    @contextmanager
    def _special_parsing(self, parse_special: bool):
        """HF keeps special parsing as a setting on the shared object: hold it for one call, then restore."""
        with self._encode_lock:
            self.hf.encode_special_tokens = not parse_special
            try:
                yield
            finally:
                self.hf.encode_special_tokens = False

    def token_bytes(self, token_id: int, *, skip_special: bool, at_fragment_start: bool) -> tuple[bytes, bool]:
        """Bytes of one token in context, and whether the next token starts a text fragment."""
        if not 0 <= token_id < self.info.vocab_size:
            raise TokenizerError(f"token id {token_id} is outside the vocabulary (size {self.info.vocab_size})")
        if token_id in self._special_ids:
            if skip_special and token_id in self._control_ids:
                return b"", True
            return self._pieces[token_id], True
        piece = self._pieces[token_id]
        if at_fragment_start and self.info.add_space_prefix and piece[:1] == b" ":
            piece = piece[1:]
        return piece, False

    def decode(self, ids: Iterable[int], *, skip_special: bool = False) -> str:
        """Text of ``ids``; invalid UTF-8 (e.g. a cut-off character) becomes U+FFFD."""
        parts, at_start = [], True
        for token_id in ids:
            piece, at_start = self.token_bytes(int(token_id), skip_special=skip_special, at_fragment_start=at_start)
            parts.append(piece)
        return b"".join(parts).decode("utf-8", errors="replace")

    def stream_decoder(self, *, skip_special: bool = False) -> StreamDecoder:
        return StreamDecoder(self, skip_special=skip_special)

    def token_to_id(self, token: str) -> int | None:
        return self.hf.token_to_id(token)

    def id_to_token(self, i: int) -> str | None:
        return self._tokens[i] if 0 <= i < len(self._tokens) else None

    def is_special(self, token_id: int) -> bool:
        """True for control and user-defined tokens (the ids matched whole in text)."""
        return token_id in self._special_ids

    def __repr__(self) -> str:
        return f"Tokenizer(model={self.info.model!r}, pre={self.info.pre!r}, vocab_size={self.info.vocab_size})"
