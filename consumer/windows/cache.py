"""Hot user-days and user records kept decoded, written back in batches.

A one-minute record would otherwise cost a read, decode, encode and write of its whole
day (about 75 µs, mostly zlib and the write-ahead log: ``docs/architecture.md``). The
cache holds up to ``capacity`` decoded objects, least recently used first; a changed one
is written when it is evicted or at ``flush``, all of a flush in one atomic batch.
Whoever commits input offsets must ``flush`` first, so the store is never behind what
was committed. ``capacity`` 0: every put is written at once. Not thread-safe.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from typing import Protocol, TypeVar, cast


class Backing(Protocol):
    """What the cache needs of a ``store.Store``."""

    def get(self, key: bytes) -> bytes | None: ...

    def put(self, key: bytes, value: bytes) -> None: ...

    def write(self, puts: dict[bytes, bytes], deletes: set[bytes]) -> None: ...


class Encodable(Protocol):
    def encode(self) -> bytes: ...


T = TypeVar("T", bound=Encodable)


class WriteBack:
    """Decoded objects by store key over a ``Store`` (see the module doc)."""

    def __init__(self, store: Backing, capacity: int) -> None:
        if capacity < 0:
            raise ValueError(f"a cache of {capacity} entries")
        self._store = store
        self._capacity = capacity
        self._items: OrderedDict[bytes, Encodable] = OrderedDict()
        self._dirty: set[bytes] = set()

    def get(self, key: bytes, decode: Callable[[bytes], T]) -> T | None:
        """The object at ``key`` (decoded once, then from memory), or None."""
        if key in self._items:
            self._items.move_to_end(key)
            return cast(T, self._items[key])
        raw = self._store.get(key)
        if raw is None:
            return None
        value = decode(raw)
        self._remember(key, value)
        return value

    def put(self, key: bytes, value: Encodable) -> None:
        """``value`` is the new state at ``key`` (written at eviction or ``flush``)."""
        if not self._capacity:
            self._store.put(key, value.encode())
            return
        self._dirty.add(key)
        self._remember(key, value)

    def forget(self, key: bytes) -> None:
        """Drop ``key`` from memory unwritten (before deleting it from the store)."""
        self._items.pop(key, None)
        self._dirty.discard(key)

    def flush(self) -> int:
        """Write every changed object in one batch; how many. Blocks on the store."""
        if not self._dirty:
            return 0
        puts = {key: self._items[key].encode() for key in self._dirty}
        self._store.write(puts, set())
        self._dirty.clear()
        return len(puts)

    def clear(self) -> None:
        """Forget everything unwritten (after a failure: the store is the truth)."""
        self._items.clear()
        self._dirty.clear()

    @property
    def dirty(self) -> int:
        return len(self._dirty)

    def _remember(self, key: bytes, value: Encodable) -> None:
        if not self._capacity:
            return
        self._items[key] = value
        self._items.move_to_end(key)
        while len(self._items) > self._capacity:
            old, evicted = self._items.popitem(last=False)
            if old in self._dirty:
                self._dirty.discard(old)
                self._store.put(old, evicted.encode())
