"""A rate-limited summary log line of dead letters by reason.

One ``dead_letters`` log line at most every ``interval_s`` (the first dead letter is
logged at once), with the count per reason since the previous line: a flood of invalid
events gives one line a minute, not one per message. Pure: the caller passes ``now``
(monotonic seconds) and logs what :meth:`DeadLetterSummary.due` returns. Not
thread-safe: one owner (the poll loop).
"""

from __future__ import annotations

from collections import Counter

DEFAULT_INTERVAL_S = 60.0


class DeadLetterSummary:
    def __init__(self, interval_s: float = DEFAULT_INTERVAL_S) -> None:
        if interval_s <= 0:
            raise ValueError("interval_s must be > 0")
        self._interval_s = interval_s
        self._counts: Counter[str] = Counter()
        self._last_s: float | None = None

    def add(self, reason: str) -> None:
        self._counts[reason] += 1

    def due(self, now: float) -> dict[str, int] | None:
        """The counts to log now (and forget), or None: nothing new, or too soon."""
        if not self._counts:
            return None
        if self._last_s is not None and now - self._last_s < self._interval_s:
            return None
        self._last_s = now
        counts = dict(sorted(self._counts.items()))
        self._counts.clear()
        return counts
