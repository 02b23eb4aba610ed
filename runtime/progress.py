"""Progress bars for long work (loading, hashing, synthesis), via tqdm.

Bars show on an interactive stderr only, unless asked for; they never go to a log file.
"""
from __future__ import annotations

import os
import sys
from contextlib import contextmanager
from typing import Iterator

from tqdm import tqdm


def _wanted(show: bool | None) -> bool:
    if show is not None:
        return show
    if os.environ.get("PLUGRT_NO_PROGRESS"):
        return False
    return sys.stderr.isatty()


@contextmanager
def progress_bar(total_bytes: int, description: str, show: bool | None = None) -> Iterator[tqdm]:
    bar = tqdm(total=total_bytes, desc=description, unit="B", unit_scale=True, unit_divisor=1024,
               disable=not _wanted(show), leave=False)
    try:
        yield bar
    finally:
        bar.close()
