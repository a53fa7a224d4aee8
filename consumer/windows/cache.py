"""Hot user-days and user records kept decoded, written back in batches.

A one-minute record would otherwise cost a read, decode, encode and write of its whole
day (about 75 µs, mostly zlib and the write-ahead log: ``docs/architecture.md``). The
cache holds decoded objects up to ``capacity_bytes`` of their ``footprint`` (their
approximate memory), least recently used first, so its memory is bounded whatever the
number of users; a changed one is written when it is evicted or at ``flush``, all of a
flush in one atomic batch. Whoever commits input offsets must ``flush`` first, so the
store is never behind what was committed. ``capacity_bytes`` 0: every put is written at
once. Not thread-safe.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from typing import Protocol, TypeVar, cast


class Backing(Protocol):
    """What the cache needs of a ``store.Store``."""

    def get(self, key: bytes) -> bytes | None: ...

    def get_many(self, keys: list[bytes]) -> list[bytes | None]: ...

    def put(self, key: bytes, value: bytes) -> None: ...

    def write(self, puts: dict[bytes, bytes], deletes: set[bytes]) -> None: ...


class Encodable(Protocol):
    def encode(self) -> bytes: ...

    @property
    def footprint(self) -> int:
        """About how many bytes of memory the decoded object holds."""
        ...


T = TypeVar("T", bound=Encodable)


class WriteBack:
    """Decoded objects by store key over a ``Store`` (see the module doc)."""

    def __init__(self, store: Backing, capacity_bytes: int) -> None:
        if capacity_bytes < 0:
            raise ValueError(f"a cache of {capacity_bytes} bytes")
        self._store = store
        self._capacity = capacity_bytes
        self._items: OrderedDict[bytes, Encodable] = OrderedDict()
        self._sizes: dict[bytes, int] = {}
        self._bytes = 0
        self._dirty: set[bytes] = set()
        #: Encoded objects not held (``put(hold=False)``) waiting for ``flush``: at most
        #: what the records between two flushes changed.
        self._pending: dict[bytes, bytes] = {}

    def get(self, key: bytes, decode: Callable[[bytes], T]) -> T | None:
        """The object at ``key`` (decoded once, then from memory), or None."""
        if key in self._items:
            self._items.move_to_end(key)
            return cast(T, self._items[key])
        raw = self.raw(key)
        if raw is None:
            return None
        value = decode(raw)
        self._remember(key, value)
        return value

    def held(self, key: bytes) -> Encodable | None:
        """The object held at ``key``, if any (nothing read, nothing moved)."""
        return self._items.get(key)

    def raw(self, key: bytes) -> bytes | None:
        """The bytes at ``key`` as of now: waiting for ``flush``, else the store's (an
        object held decoded may be newer: look at ``held`` first). Blocks on the store."""
        pending = self._pending.get(key)
        return pending if pending is not None else self._store.get(key)

    def raw_many(self, keys: list[bytes]) -> list[bytes | None]:
        """``raw`` of each key, in their order: those not waiting for ``flush`` in one
        read of the store. Blocks on the store."""
        found = [self._pending.get(key) for key in keys]
        missing = [key for key, raw in zip(keys, found, strict=True) if raw is None]
        if missing:
            read = iter(self._store.get_many(missing))
            found = [next(read) if raw is None else raw for raw in found]
        return found

    def put(self, key: bytes, value: Encodable, *, hold: bool = True) -> None:
        """``value`` is the new state at ``key`` (written at eviction or ``flush``). With
        ``hold`` False (an object unlikely to change again soon) it is encoded now and
        its bytes wait for ``flush`` instead, so it takes no room from the others."""
        if not self._capacity:
            self._store.put(key, value.encode())
            return
        if not hold:
            self.forget(key)
            self._pending[key] = value.encode()
            return
        self._pending.pop(key, None)  # superseded: the held object is written instead
        self._dirty.add(key)
        self._remember(key, value)

    def forget(self, key: bytes) -> None:
        """Drop ``key`` from memory unwritten (before deleting it from the store)."""
        self._items.pop(key, None)
        self._bytes -= self._sizes.pop(key, 0)
        self._dirty.discard(key)
        self._pending.pop(key, None)

    def flush(self) -> int:
        """Write every changed object in one batch; how many. Blocks on the store."""
        if not self._dirty and not self._pending:
            return 0
        puts = self._pending
        puts.update({key: self._items[key].encode() for key in self._dirty})
        self._store.write(puts, set())
        self._dirty.clear()
        self._pending = {}
        return len(puts)

    def clear(self) -> None:
        """Forget everything unwritten (after a failure: the store is the truth)."""
        self._items.clear()
        self._sizes.clear()
        self._bytes = 0
        self._dirty.clear()
        self._pending.clear()

    @property
    def dirty(self) -> int:
        """How many objects wait for ``flush`` (held changed, or encoded)."""
        return len(self._dirty) + len(self._pending)

    @property
    def held_bytes(self) -> int:
        """The footprints of the objects held, as of when each was last put or read."""
        return self._bytes

    def _remember(self, key: bytes, value: Encodable) -> None:
        if not self._capacity:
            return
        self._items[key] = value
        self._items.move_to_end(key)
        size = value.footprint
        self._bytes += size - self._sizes.get(key, 0)
        self._sizes[key] = size
        while self._bytes > self._capacity and len(self._items) > 1:
            old, evicted = self._items.popitem(last=False)
            self._bytes -= self._sizes.pop(old)
            if old in self._dirty:
                self._dirty.discard(old)
                self._store.put(old, evicted.encode())
