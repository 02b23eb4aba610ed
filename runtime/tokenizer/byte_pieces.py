"""Token id -> raw bytes, the common ground of decode() and the streaming decoder.

Byte-level BPE token strings spell bytes through GPT-2's byte<->unicode table;
SentencePiece pieces use U+2581 for a space and ``<0xNN>`` for byte fallback.
"""
from __future__ import annotations

import re
from functools import lru_cache

SPM_SPACE = "\u2581"
_BYTE_TOKEN = re.compile(r"<0x([0-9A-Fa-f]{2})>")


@lru_cache(maxsize=1)
def gpt2_unicode_to_byte() -> dict[str, int]:
    """Inverse of GPT-2's ``bytes_to_unicode``: printable bytes map to themselves, the rest to 256+n."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    table = {chr(b): b for b in printable}
    extra = 0
    for b in range(256):
        if b not in printable:
            table[chr(256 + extra)] = b
            extra += 1
    return table


def byte_level_piece(token: str) -> bytes:
    """Bytes of a byte-level BPE token; characters outside the table (added tokens) are taken as UTF-8."""
    table = gpt2_unicode_to_byte()
    if all(ch in table for ch in token):
        return bytes(table[ch] for ch in token)
    return token.encode("utf-8")


def sentencepiece_piece(token: str) -> bytes:
    """Bytes of a SentencePiece token: ``<0xNN>`` is one byte, U+2581 is a space."""
    match = _BYTE_TOKEN.fullmatch(token)
    if match:
        return bytes([int(match.group(1), 16)])
    return token.replace(SPM_SPACE, " ").encode("utf-8")


def piece_table(tokens: list[str], byte_level: bool, byte_token_ids: set[int] | None = None) -> list[bytes]:
    """Raw bytes of every token. ``byte_token_ids`` (SentencePiece only) are the ``<0xNN>`` tokens;
    None means any token spelled ``<0xNN>``."""
    if byte_level:
        return [byte_level_piece(t) for t in tokens]
    if byte_token_ids is None:
        return [sentencepiece_piece(t) for t in tokens]
    return [sentencepiece_piece(t) if i in byte_token_ids else t.replace(SPM_SPACE, " ").encode("utf-8")
            for i, t in enumerate(tokens)]
