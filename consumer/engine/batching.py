"""Micro-batching: a batch closes at ``max_batch_size`` items, at ``max_batch_bytes`` bytes
of item payload, or ``max_batch_wait_s`` after its FIRST item, whichever comes first (the
Ray Serve rule, plus a byte bound so that large events make smaller batches).

``room`` says how many more items to fetch: the items left, and, with a byte bound, the
bytes left divided by the items' mean size so far (a moving mean over every item seen,
batches included), so a fetch rarely passes the byte bound. A fetch made before any item
was seen, or of items larger than the mean, may pass it once; the batch is then full.

Pure logic: the caller passes ``now`` (monotonic seconds) and each item's size; no
threads, no clock reads. Not thread-safe: one owner (the poll loop).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Generic, TypeVar

if TYPE_CHECKING:
    from consumer.settings import ProcessingSettings

T = TypeVar("T")

#: Weight of a new batch's mean item size in the moving mean ``room`` divides by.
SIZE_WEIGHT = 0.25


@dataclass(frozen=True)
class BatchPolicy:
    max_batch_size: int
    max_batch_wait_s: float
    max_batch_bytes: int | None = None  # None: no byte bound

    def __post_init__(self) -> None:
        if self.max_batch_size < 1:
            raise ValueError(f"max_batch_size must be >= 1, got {self.max_batch_size}")
        if self.max_batch_wait_s < 0:
            raise ValueError(f"max_batch_wait_s must be >= 0, got {self.max_batch_wait_s}")
        if self.max_batch_bytes is not None and self.max_batch_bytes < 1:
            raise ValueError(f"max_batch_bytes must be >= 1, got {self.max_batch_bytes}")

    @classmethod
    def of(
        cls,
        processing: ProcessingSettings,
        *,
        bounds: tuple[int, int | None] | None = None,
    ) -> BatchPolicy:
        """The policy the settings give (``PROCESSING__MAX_BATCH_*``); ``bounds``: a stage's
        own (events, bytes) instead of the processing ones (the windows stage's
        ``WINDOWS__MAX_BATCH_*``), with the same wait."""
        size, size_bytes = bounds or (processing.max_batch_size, processing.max_batch_bytes)
        return cls(size, processing.max_batch_wait_ms / 1000.0, size_bytes)


@dataclass
class MicroBatcher(Generic[T]):
    policy: BatchPolicy
    _items: list[T] = field(default_factory=list)
    _sizes: list[int] = field(default_factory=list)  # each item's bytes, as added
    _opened_at: float | None = None
    _bytes: int = 0
    _mean_size: float | None = None  # moving mean of the items' sizes, over batches

    def add(self, item: T, now: float, size: int = 0) -> None:
        """Append one item of ``size`` bytes; the first item of a batch starts its wait
        timer."""
        self.extend([item], [size], now)

    def extend(self, items: list[T], sizes: list[int], now: float) -> None:
        """Append ``items``, each of its ``sizes`` bytes (aligned); the first item of a
        batch starts its wait timer."""
        if not items:
            return
        if len(sizes) != len(items):
            raise ValueError(f"{len(items)} items but {len(sizes)} sizes")
        if self._opened_at is None:
            self._opened_at = now
        self._items += items
        self._sizes += sizes
        self._bytes += sum(sizes)

    def room(self) -> int:
        """How many more items to take before the batch is full (>= 0)."""
        left = self.policy.max_batch_size - len(self._items)
        limit = self.policy.max_batch_bytes
        if limit is None or left <= 0:
            return max(0, left)
        bytes_left = limit - self._bytes
        if bytes_left <= 0:
            return 0
        mean = self._mean_size
        if self._items:
            here = self._bytes / len(self._items)
            mean = here if mean is None else max(mean, here)
        if not mean:
            return left
        return max(1, min(left, int(bytes_left // mean)))

    def __len__(self) -> int:
        return len(self._items)

    @property
    def bytes(self) -> int:
        """The open batch's bytes (the sum of its items' sizes)."""
        return self._bytes

    def ready(self, now: float) -> bool:
        """True when the batch is full, or non-empty and its wait has run out."""
        left = self.time_left_s(now)
        if left is None:
            return False
        return self._full() or left <= 0.0

    def _full(self) -> bool:
        limit = self.policy.max_batch_bytes
        if limit is not None and self._bytes >= limit:
            return True
        return len(self._items) >= self.policy.max_batch_size

    def time_left_s(self, now: float) -> float | None:
        """Seconds until an open batch must close; None when empty."""
        if self._opened_at is None:
            return None
        return max(0.0, self._opened_at + self.policy.max_batch_wait_s - now)

    def remove_if(self, predicate: Callable[[T], bool]) -> int:
        """Drop the items matching ``predicate`` (e.g. of revoked partitions) with their
        sizes; returns how many. The wait timer keeps its start while items remain, and
        resets when none do."""
        keep = [not predicate(item) for item in self._items]
        dropped = keep.count(False)
        if dropped:
            self._items = [item for item, kept in zip(self._items, keep, strict=True) if kept]
            self._sizes = [size for size, kept in zip(self._sizes, keep, strict=True) if kept]
            self._bytes = sum(self._sizes)
        if not self._items:
            self._opened_at = None
        return dropped

    def take(self) -> list[T]:
        """Remove and return the current batch (possibly empty) and reset the timer."""
        if self._items:
            here = self._bytes / len(self._items)
            mean = self._mean_size
            self._mean_size = here if mean is None else mean + SIZE_WEIGHT * (here - mean)
        items, self._items, self._opened_at, self._bytes = self._items, [], None, 0
        self._sizes = []
        return items
