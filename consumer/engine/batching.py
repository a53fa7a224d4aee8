"""Micro-batching: a batch closes at ``max_batch_size`` items or ``max_batch_wait_s``
after its FIRST item, whichever comes first (the Ray Serve rule).

Pure logic: the caller passes ``now`` (monotonic seconds); no threads, no clock reads.
Not thread-safe: one owner (the poll loop).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class BatchPolicy:
    max_batch_size: int
    max_batch_wait_s: float

    def __post_init__(self) -> None:
        if self.max_batch_size < 1:
            raise ValueError(f"max_batch_size must be >= 1, got {self.max_batch_size}")
        if self.max_batch_wait_s < 0:
            raise ValueError(f"max_batch_wait_s must be >= 0, got {self.max_batch_wait_s}")


@dataclass
class MicroBatcher(Generic[T]):
    policy: BatchPolicy
    _items: list[T] = field(default_factory=list)
    _opened_at: float | None = None

    def add(self, item: T, now: float) -> None:
        """Append one item; the first item of a batch starts its wait timer."""
        if self._opened_at is None:
            self._opened_at = now
        self._items.append(item)

    def room(self) -> int:
        """How many more items fit before the batch is full (>= 0)."""
        return max(0, self.policy.max_batch_size - len(self._items))

    def __len__(self) -> int:
        return len(self._items)

    def ready(self, now: float) -> bool:
        """True when the batch is full, or non-empty and its wait has run out."""
        left = self.time_left_s(now)
        if left is None:
            return False
        return self.room() == 0 or left <= 0.0

    def time_left_s(self, now: float) -> float | None:
        """Seconds until an open batch must close; None when empty."""
        if self._opened_at is None:
            return None
        return max(0.0, self._opened_at + self.policy.max_batch_wait_s - now)

    def remove_if(self, predicate: Callable[[T], bool]) -> int:
        """Drop the items matching ``predicate`` (e.g. of revoked partitions); returns how many.

        The wait timer keeps its start while items remain, and resets when none do.
        """
        kept = [item for item in self._items if not predicate(item)]
        dropped = len(self._items) - len(kept)
        self._items = kept
        if not kept:
            self._opened_at = None
        return dropped

    def take(self) -> list[T]:
        """Remove and return the current batch (possibly empty) and reset the timer."""
        items, self._items, self._opened_at = self._items, [], None
        return items
