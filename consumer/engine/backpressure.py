"""When the poll loop stops fetching, pauses its partitions and resumes: pure decisions.

Two bounds, each in its own unit: offsets read and not yet committed-ready
(``PROCESSING__MAX_INFLIGHT_EVENTS``), and activity events held for PAT, waiting for
room in its lane or running (``PROCESSING__MAX_PENDING_ACTIVITY_EVENTS``). At either
bound the loop first **holds**: it stops taking messages from the consumer but pauses
nothing, so what librdkafka already fetched (its bounded prefetch queue) stays there;
pausing a partition drops that prefetch and costs a refetch after the resume, which made
a waiting backlog stall 0.2-0.3 s after every resume. Only back-pressure that lasts
``pause_after_s`` (``PROCESSING__PAUSE_AFTER_S``, 5 s by default, as arroyo does) pauses
the partitions, so the loop can poll again (rebalance callbacks, ``max.poll.interval.ms``)
without taking messages. Hold or pause ends once both counts are below half of their
bound (at 0 for a bound of 1), or, for the events in flight, as soon as a whole
micro-batch (``PROCESSING__MAX_BATCH_SIZE``) fits under the bound again: with a bound of
two batches, waiting for half would leave the boosters idle between the last batch's
answer and the next one's decode (~15 % fewer events per second measured). ``pause_after_s``
0 pauses at once. The caller passes ``now``; no clock reads, no Kafka. Not thread-safe:
one owner.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from consumer.settings import ProcessingSettings


def resume_below(bound: int, batch: int = 0) -> int:
    """Count under which paused partitions resume: half the pause bound, and at least 1 so
    a bound of 1 resumes once nothing is held; with ``batch`` (the events a micro-batch may
    hold), as soon as one whole batch fits under the bound again, if that comes first. Pure."""
    return max(1, bound // 2, bound - batch + 1 if batch > 0 else 0)


class Change(Enum):
    NONE = "none"
    HOLD = "hold"  # stop taking messages; partitions stay fetching
    RELEASE = "release"  # take messages again (nothing was paused)
    PAUSE = "pause"  # pause the partitions (the hold lasted, or pause_after_s is 0)
    RESUME = "resume"  # resume the paused partitions


@dataclass
class Backpressure:
    max_inflight: int
    max_pat_pending: int
    pause_after_s: float = 0.0
    max_batch: int = 0  # events a micro-batch may hold (0: resume at half the bound only)
    paused_for: str | None = None  # partitions paused, by cause: "inflight" or "pat_pending"
    held_for: str | None = None  # messages left unfetched, partitions not paused, by cause
    paused_at: float = 0.0  # when the back-pressure began (hold or pause)

    @classmethod
    def of(cls, processing: ProcessingSettings) -> Backpressure:
        """The bounds and hold of ``PROCESSING__*`` settings."""
        return cls(
            processing.max_inflight_events,
            processing.max_pending_activity_events,
            processing.pause_after_s,
            processing.max_batch_size,
        )

    @property
    def paused(self) -> bool:
        """The partitions are paused (the loop polls without getting messages)."""
        return self.paused_for is not None

    @property
    def holding(self) -> bool:
        """The loop must not take messages, and its partitions are not paused."""
        return self.held_for is not None

    def update(self, inflight: int, pat_pending: int, now: float) -> tuple[Change, float]:
        """The change to make now, and for a release or resume how long the back-pressure
        lasted (seconds)."""
        if self.paused_for is None and self.held_for is None:
            cause = self._at_bound(inflight, pat_pending)
            if cause is None:
                return Change.NONE, 0.0
            self.paused_at = now
            if self.pause_after_s > 0:
                self.held_for = cause
                return Change.HOLD, 0.0
            self.paused_for = cause
            return Change.PAUSE, 0.0
        if inflight < resume_below(
            self.max_inflight, self.max_batch
        ) and pat_pending < resume_below(self.max_pat_pending):
            change = Change.RESUME if self.paused_for is not None else Change.RELEASE
            self.paused_for = self.held_for = None
            return change, now - self.paused_at
        if self.held_for is not None and now - self.paused_at >= self.pause_after_s:
            self.paused_for, self.held_for = self.held_for, None
            return Change.PAUSE, 0.0
        return Change.NONE, 0.0

    def _at_bound(self, inflight: int, pat_pending: int) -> str | None:
        if inflight >= self.max_inflight:
            return "inflight"
        if pat_pending >= self.max_pat_pending:
            return "pat_pending"
        return None
