"""When the poll loop pauses its partitions and when it resumes them: pure decisions.

Two bounds, each in its own unit: offsets read and not yet committed-ready
(``PROCESSING__MAX_INFLIGHT_EVENTS``), and activity events held for PAT, waiting for
room in its lane or running (``PROCESSING__MAX_PENDING_ACTIVITY_EVENTS``). At either
bound the loop pauses; it resumes once both are below half (at 0 for a bound of 1). The
caller passes ``now``; no clock reads, no Kafka. Not thread-safe: one owner.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


def resume_below(bound: int) -> int:
    """Count under which paused partitions resume: half the pause bound, and at least 1 so
    a bound of 1 resumes once nothing is held. Pure."""
    return max(1, bound // 2)


class Change(Enum):
    NONE = "none"
    PAUSE = "pause"
    RESUME = "resume"


@dataclass
class Backpressure:
    max_inflight: int
    max_pat_pending: int
    paused_for: str | None = None  # the cause while paused: "inflight" or "pat_pending"
    paused_at: float = 0.0

    @property
    def paused(self) -> bool:
        return self.paused_for is not None

    def update(self, inflight: int, pat_pending: int, now: float) -> tuple[Change, float]:
        """The change to make now, and for a resume how long the pause lasted (seconds)."""
        if self.paused_for is None:
            if inflight >= self.max_inflight:
                self.paused_for = "inflight"
            elif pat_pending >= self.max_pat_pending:
                self.paused_for = "pat_pending"
            else:
                return Change.NONE, 0.0
            self.paused_at = now
            return Change.PAUSE, 0.0
        if inflight < resume_below(self.max_inflight) and pat_pending < resume_below(
            self.max_pat_pending
        ):
            self.paused_for = None
            return Change.RESUME, now - self.paused_at
        return Change.NONE, 0.0
