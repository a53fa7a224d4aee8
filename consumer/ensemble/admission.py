"""Admission by cost: how much work a model lane may hold, from its own measured speed.

A lane's deadline is there to catch a sick model (hung, raising, far slower than it was),
not queued work. So a lane takes a call only while the estimated seconds of everything it
already holds, plus the new call, fit within ``budget_s`` (a fraction of the deadline): a
healthy model then finishes every call in time however large the backlog in front of it.
The backlog waits outside the lane (bounded, in the worker, then in Kafka as lag).

Pure logic: callers pass measured durations; no clock reads, no threads.
Not thread-safe: one owner (the poll loop).
"""

from __future__ import annotations

from dataclasses import dataclass

#: Weight of a new sample in the moving estimate when the model got slower / faster.
#: Slower samples count more, so admission shrinks quickly and grows back gently.
SLOWER_WEIGHT = 0.5
FASTER_WEIGHT = 0.2


@dataclass
class SpeedEstimate:
    """Seconds per row: an exponentially weighted mean of recent calls, seeded at start."""

    seconds_per_row: float

    def __post_init__(self) -> None:
        if not self.seconds_per_row > 0:
            raise ValueError(f"seconds_per_row must be > 0, got {self.seconds_per_row}")

    def observe(self, rows: int, elapsed_s: float) -> None:
        """Fold in one finished call of ``rows`` rows that ran ``elapsed_s`` seconds."""
        if rows <= 0 or elapsed_s <= 0:
            return
        sample = elapsed_s / rows
        weight = SLOWER_WEIGHT if sample > self.seconds_per_row else FASTER_WEIGHT
        self.seconds_per_row += weight * (sample - self.seconds_per_row)

    def at_least(self, rows: int, elapsed_s: float) -> None:
        """A call of ``rows`` rows has run ``elapsed_s`` and is not done (for example past
        its deadline): the speed is at most that, so raise the estimate to it at once."""
        if rows > 0 and elapsed_s > 0:
            self.seconds_per_row = max(self.seconds_per_row, elapsed_s / rows)


@dataclass
class LaneAdmission:
    """The rows a lane holds (submitted, not finished) and how many more it may take.

    ``budget_s``: the most estimated seconds of work the lane may hold (deadline times a fraction).
    ``chunk_rows``: rows per call (None: a request is submitted whole). A call is admitted
    whole when it fits; an empty lane always takes one call, so a lane never starves when
    one call alone exceeds the budget (its deadline then decides).
    """

    budget_s: float
    estimate: SpeedEstimate
    chunk_rows: int | None = None
    held_rows: int = 0

    def __post_init__(self) -> None:
        if not self.budget_s > 0:
            raise ValueError(f"budget_s must be > 0, got {self.budget_s}")
        if self.chunk_rows is not None and self.chunk_rows < 1:
            raise ValueError(f"chunk_rows must be >= 1, got {self.chunk_rows}")

    @property
    def held_s(self) -> float:
        """Estimated seconds of the work the lane holds."""
        return self.held_rows * self.estimate.seconds_per_row

    def next_call_rows(self, waiting_rows: int) -> int:
        """How many of ``waiting_rows`` to submit as the next call now (0: wait)."""
        if waiting_rows <= 0:
            return 0
        wanted = waiting_rows if self.chunk_rows is None else min(waiting_rows, self.chunk_rows)
        if self.held_rows == 0:
            return wanted
        cost_s = wanted * self.estimate.seconds_per_row
        return wanted if self.held_s + cost_s <= self.budget_s else 0

    def admit(self, rows: int) -> None:
        self.held_rows += rows

    def release(self, rows: int, elapsed_s: float | None) -> None:
        """A call finished (``elapsed_s`` its run time) or failed (None: no speed sample)."""
        self.held_rows = max(0, self.held_rows - rows)
        if elapsed_s is not None:
            self.estimate.observe(rows, elapsed_s)
