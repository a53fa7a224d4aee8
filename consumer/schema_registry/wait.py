"""Waiting out an unreachable Schema Registry: the batch that needed it is held (not
decoded, not dead-lettered, not committed) and retried with exponential backoff.

Pure state with an injected clock reading (``now`` arguments): no sleeps, no threads.
Not thread-safe (the poll loop owns it).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class RegistryWait(Generic[T]):
    """Holds one batch; ``due`` says when to retry it. The pause doubles from
    ``initial_s`` up to ``max_s`` while the registry stays away; a success resets it."""

    def __init__(self, initial_s: float, max_s: float) -> None:
        self._initial_s = initial_s
        self._max_s = max(max_s, initial_s)
        self._next_pause_s = initial_s
        self._held: list[T] = []
        self._retry_at = float("inf")
        self.reason = ""
        self.since: float | None = None

    @property
    def holding(self) -> bool:
        return bool(self._held)

    def hold(self, batch: list[T], now: float, reason: str) -> float:
        """Keep ``batch`` until the next retry; returns the pause before it, in seconds."""
        pause_s = self._next_pause_s
        self._held = batch
        self._retry_at = now + pause_s
        self._next_pause_s = min(self._max_s, pause_s * 2)
        self.reason = reason
        if self.since is None:
            self.since = now
        return pause_s

    def due(self, now: float) -> bool:
        return self.holding and now >= self._retry_at

    def take(self) -> list[T]:
        """The held batch (for a retry); the wait stays open until ``recovered``."""
        batch, self._held = self._held, []
        return batch

    def recovered(self) -> float | None:
        """The registry answered: reset the backoff; returns how long it was waited for
        (None when there was no wait) given the time of the last ``hold``'s start."""
        waited = self.since
        self._next_pause_s = self._initial_s
        self._retry_at = float("inf")
        self.reason = ""
        self.since = None
        return waited

    def remove_if(self, predicate: Callable[[T], bool]) -> int:
        """Drop held items (their partitions were revoked or lost); returns how many."""
        kept = [item for item in self._held if not predicate(item)]
        dropped = len(self._held) - len(kept)
        self._held = kept
        return dropped
