"""Stop strings over streamed text: cut exactly at the first stop string, even one spanning tokens."""
from __future__ import annotations

from collections.abc import Sequence


class StopStringFilter:
    """Passes streamed text through, holding back any tail that could still grow into a stop string."""

    def __init__(self, stops: Sequence[str]):
        self.stops = [s for s in stops if s]
        self.pending = ""

    def push(self, piece: str) -> tuple[str, bool]:
        """Add decoded text; return (text safe to emit now, whether a stop string was reached).

        Once a stop string is reached, the returned text ends right before it and the rest is dropped.
        """
        self.pending += piece
        hits = [i for i in (self.pending.find(s) for s in self.stops) if i >= 0]
        if hits:
            safe, self.pending = self.pending[:min(hits)], ""
            return safe, True
        cut = len(self.pending) - self._held_length()
        safe, self.pending = self.pending[:cut], self.pending[cut:]
        return safe, False

    def flush(self) -> str:
        """The held-back text, once no more text will come."""
        rest, self.pending = self.pending, ""
        return rest

    def _held_length(self) -> int:
        """Length of the longest tail of the pending text that is a proper prefix of a stop string."""
        longest = 0
        for stop in self.stops:
            for k in range(min(len(stop) - 1, len(self.pending)), longest, -1):
                if self.pending.endswith(stop[:k]):
                    longest = k
                    break
        return longest
