"""Split long text where byte-level BPE tokenization cannot cross, so chunks encode in parallel.

For the gpt-4o, gpt-2 and default pre-tokenizers no regex piece runs from a newline
into a following character that is neither whitespace nor ``/`` (gpt-4o's
punctuation pieces may end in ``[\\r\\n/]*``). If no added token contains a newline,
the ids of the chunks joined equal the ids of the whole text.
"""
from __future__ import annotations

import re

CHUNK_CHARS = 512  # HF encodes many short strings (in parallel) much faster than one long one
_BOUNDARY = re.compile(r"\n(?=[^\s/])")


def split_at_safe_boundaries(text: str, chunk_chars: int = CHUNK_CHARS) -> list[str]:
    """``text`` cut right after newlines, into pieces of at least ``chunk_chars`` (but the last)."""
    chunks, start = [], 0
    while len(text) - start > chunk_chars:
        match = _BOUNDARY.search(text, start + chunk_chars)
        if match is None:
            break
        chunks.append(text[start:match.end()])
        start = match.end()
    chunks.append(text[start:])
    return chunks
