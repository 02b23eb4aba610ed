"""Streaming detokenizer (GT-031, GT-046): token ids in, UTF-8-safe text chunks out."""
from __future__ import annotations

import codecs
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from runtime.tokenizer.tokenizer import Tokenizer


class StreamDecoder:
    """Feed token ids one at a time; each returned chunk is complete text.

    Bytes of a character split across byte-fallback tokens or byte-level BPE pieces
    are held back until the character is complete. Bytes that can never form a valid
    character become U+FFFD as soon as that is certain; an incomplete tail becomes
    U+FFFD at :meth:`flush`. The chunks joined equal ``Tokenizer.decode`` of all ids.
    """

    def __init__(self, tokenizer: "Tokenizer", *, skip_special: bool = False):
        self._tokenizer = tokenizer
        self._skip_special = skip_special
        self._utf8 = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._at_fragment_start = True

    def feed(self, token_id: int) -> str:
        """Text completed by this token; may be empty."""
        piece, self._at_fragment_start = self._tokenizer.token_bytes(
            int(token_id), skip_special=self._skip_special, at_fragment_start=self._at_fragment_start)
        return self._utf8.decode(piece) if piece else ""

    def flush(self) -> str:
        """Whatever is held back; an incomplete character becomes U+FFFD. The decoder can be reused."""
        text = self._utf8.decode(b"", final=True)
        self._utf8.reset()
        self._at_fragment_start = True
        return text
