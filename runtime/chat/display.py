"""Showing a streamed harmony reply to a person: channel markers become labels."""
from __future__ import annotations

import re
from typing import Iterable, Iterator

_HEADER = re.compile(r"(?:<\|start\|>assistant)?<\|channel\|>(\w+)(?:<\|constrain\|>\S*)?\s*<\|message\|>")
_END = re.compile(r"<\|(?:end|return|call)\|>")


def _relabel(text: str) -> str:
    text = _HEADER.sub(lambda m: f"[{m.group(1)}] ", text)
    return _END.sub("\n", text)


def _split_ready(pending: str) -> tuple[str, str]:
    """Text that can be shown now, and a tail that may still be part of a marker."""
    cut = pending.rfind("<|")
    if cut != -1 and "|>" not in pending[cut:]:
        return pending[:cut], pending[cut:]
    header = pending.rfind("<|channel|>")
    if header != -1 and "<|message|>" not in pending[header:]:
        start = pending.rfind("<|start|>", 0, header)
        return pending[:start if start != -1 else header], pending[start if start != -1 else header:]
    return pending, ""


def harmony_display(chunks: Iterable) -> Iterator[str]:
    """Yield display text for a stream of chunks (objects with ``.text``) of a harmony reply."""
    pending = ""
    for chunk in chunks:
        ready, pending = _split_ready(pending + chunk.text)
        if ready:
            yield _relabel(ready)
    if pending:
        yield _relabel(pending)
