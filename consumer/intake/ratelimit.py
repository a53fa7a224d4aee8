"""Per-key rate limit (the old design allowed 10 ensemble requests a minute per client).

A token bucket per ``user_id``: ``per_minute`` tokens, refilled continuously. Pure: the
caller passes ``now`` (monotonic seconds). Memory is bounded: the least recently seen
keys are dropped beyond ``max_keys`` (a dropped key starts again with a full bucket).
Not thread-safe: one owner (the poll loop).
"""

from __future__ import annotations

from collections import OrderedDict


class KeyRateLimiter:
    def __init__(self, per_minute: int, max_keys: int = 100_000) -> None:
        if per_minute < 1 or max_keys < 1:
            raise ValueError("per_minute and max_keys must be >= 1")
        self._capacity = float(per_minute)
        self._refill_per_s = per_minute / 60.0
        self._max_keys = max_keys
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def allow(self, key: str, now: float) -> bool:
        """Take one token for ``key``; False when its bucket is empty."""
        tokens, last = self._buckets.pop(key, (self._capacity, now))
        tokens = min(self._capacity, tokens + (now - last) * self._refill_per_s)
        allowed = tokens >= 1.0
        self._buckets[key] = (tokens - 1.0 if allowed else tokens, now)
        if len(self._buckets) > self._max_keys:
            self._buckets.popitem(last=False)
        return allowed
