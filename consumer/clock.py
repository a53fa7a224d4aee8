"""Time, injected. Nothing in the service calls ``time`` directly except ``SystemClock``."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Protocol


class Clock(Protocol):
    def monotonic(self) -> float:
        """Seconds on a monotonic scale (durations and deadlines)."""
        ...

    def now(self) -> datetime:
        """The current wall-clock time, timezone-aware UTC (timestamps in events)."""
        ...


class SystemClock:
    """The real clock. Thread-safe, never blocks."""

    def monotonic(self) -> float:
        return time.monotonic()

    def now(self) -> datetime:
        return datetime.now(UTC)

    def wall_ms(self) -> int:
        return time.time_ns() // 1_000_000
