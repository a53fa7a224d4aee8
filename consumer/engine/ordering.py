"""Per-key output order: a key's answers leave in the order its events were read.

``KeySequencer`` is pure bookkeeping: each event is registered in read order under its
scope (the partition) and key; as events are answered (in any order) it releases, per key,
the longest prefix that has been answered. An event whose key has no earlier event still
unanswered is released at once, so events of other keys never wait for a slow one. Items
are compared by identity-hash (``SourceResult`` is ``eq=False``). No clock, no Kafka; cost
per event is a few dict and deque operations (about 1 µs). Not thread-safe: one owner,
the poll loop.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Hashable, Iterable
from typing import Generic, TypeVar

T = TypeVar("T", bound=Hashable)
_Key = tuple[Hashable, Hashable]


class KeySequencer(Generic[T]):
    """Registered, not yet released items per ``(scope, key)``, in read order."""

    __slots__ = ("_answered", "_key_of", "_queues")

    def __init__(self) -> None:
        self._queues: dict[_Key, deque[T]] = {}
        self._key_of: dict[T, _Key] = {}
        self._answered: set[T] = set()  # answered, held behind an earlier item of their key

    def __len__(self) -> int:
        """Items registered and not yet released (answered or not)."""
        return len(self._key_of)

    @property
    def held(self) -> int:
        """Items answered but held behind an earlier unanswered item of their key."""
        return len(self._answered)

    def register(self, scope: Hashable, key: Hashable, item: T) -> None:
        """Add ``item`` as the newest event of ``key`` in ``scope``; call in read order.
        Raises ValueError when ``item`` is registered already."""
        if item in self._key_of:
            raise ValueError("item registered twice")
        queue_key = (scope, key)
        self._key_of[item] = queue_key
        queue = self._queues.get(queue_key)
        if queue is None:
            self._queues[queue_key] = deque((item,))
        else:
            queue.append(item)

    def answer(self, item: T) -> list[T]:
        """Mark ``item`` answered; return the items released now, in read order (empty while
        an earlier item of its key is unanswered). An item never registered (or forgotten)
        is released at once. Answering an item twice raises ValueError."""
        queue_key = self._key_of.get(item)
        if queue_key is None:
            return [item]
        if item in self._answered:
            raise ValueError("item answered twice")
        queue = self._queues[queue_key]
        if queue[0] is not item:
            self._answered.add(item)
            return []
        released = [queue.popleft()]
        del self._key_of[item]
        answered = self._answered
        while queue and queue[0] in answered:
            later = queue.popleft()
            answered.discard(later)
            del self._key_of[later]
            released.append(later)
        if not queue:
            del self._queues[queue_key]
        return released

    def forget(self, scopes: Iterable[Hashable]) -> list[T]:
        """Drop every item of ``scopes`` (revoked or lost partitions). Returns the dropped
        items that were answered and held (never released: their caller gives them up)."""
        gone = set(scopes)
        dropped: list[T] = []
        for queue_key in [k for k in self._queues if k[0] in gone]:
            for item in self._queues.pop(queue_key):
                del self._key_of[item]
                if item in self._answered:
                    self._answered.discard(item)
                    dropped.append(item)
        return dropped
