"""Freed device buffers kept for reuse, by exact size.

``cuMemFree`` waits for the whole device to go idle, so freeing each op's temporaries as Python
drops them stalls the host after nearly every kernel: the GPU then runs at Python's pace. Keeping
freed buffers and handing them out again to requests of the same size avoids that; a forward pass
asks for the same sizes layer after layer, so exact sizes are enough. Reuse is safe because every
kernel runs on one stream: work queued on a reused buffer runs after the work queued on it before.
"""
from __future__ import annotations

from collections import defaultdict
from typing import Any


class BlockCache:
    """Free blocks by size; ``take`` one back, ``drain`` all of them to release them for real."""

    def __init__(self) -> None:
        self._free: dict[int, list[Any]] = defaultdict(list)
        self.cached_bytes = 0
        self.hits = 0

    def __len__(self) -> int:
        return sum(len(blocks) for blocks in self._free.values())

    def put(self, nbytes: int, block: Any) -> None:
        self._free[nbytes].append(block)
        self.cached_bytes += nbytes

    def take(self, nbytes: int) -> Any | None:
        """A cached block of exactly ``nbytes``, or None."""
        blocks = self._free.get(nbytes)
        if not blocks:
            return None
        self.cached_bytes -= nbytes
        self.hits += 1
        return blocks.pop()

    def drain(self) -> list[Any]:
        """Every cached block, removed from the cache (the caller frees them)."""
        blocks = [b for size in self._free.values() for b in size]
        self._free.clear()
        self.cached_bytes = 0
        return blocks
