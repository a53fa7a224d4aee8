"""Device batching: when a lane on an accelerator sends its next call.

A GPU scores 256 sequences in about the time it scores 8, so its lane should not send each
micro-batch's few activity rows as they come (the CPU lanes do: there, batching does not
raise throughput). A lane with a ``RowBatching`` gathers waiting rows *across* micro-batches
into one call of at most ``max_rows`` rows, and sends it once it is full or once its oldest
row has waited ``max_wait_s`` (``MODELS__PAT_DEVICE_BATCH_ROWS`` /
``MODELS__PAT_DEVICE_BATCH_WAIT_MS``). The wait bound caps what a row pays for company at
low rates; the row bound is what the device is sized for. Admission by cost still decides
whether the lane has room for the call (``consumer.ensemble.admission``).

Pure logic: callers pass the monotonic time; no clock reads, no threads.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class RowBatching:
    """A call leaves when ``max_rows`` rows wait or the oldest has waited ``max_wait_s``."""

    max_rows: int
    max_wait_s: float

    def __post_init__(self) -> None:
        if self.max_rows < 1:
            raise ValueError(f"max_rows must be >= 1, got {self.max_rows}")
        if self.max_wait_s < 0:
            raise ValueError(f"max_wait_s must be >= 0, got {self.max_wait_s}")

    def due_at(self, oldest_enqueued_at: float) -> float:
        """When a partial call with this oldest row leaves (monotonic)."""
        return oldest_enqueued_at + self.max_wait_s

    def ready(self, waiting_rows: int, oldest_enqueued_at: float | None, now: float) -> bool:
        """Whether a call should be sent now: rows wait and the call is full or due."""
        if waiting_rows <= 0 or oldest_enqueued_at is None:
            return False
        return waiting_rows >= self.max_rows or now >= self.due_at(oldest_enqueued_at)

    def wake_at(self, oldest_enqueued_at: float | None, now: float) -> float | None:
        """The time the loop should look again for a partial call still in its wait (None:
        nothing waits, or it is due already and only room in the lane can send it)."""
        if oldest_enqueued_at is None:
            return None
        due = self.due_at(oldest_enqueued_at)
        return due if due > now else None
