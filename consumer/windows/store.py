"""Where the windows stage keeps its state: a byte key-value ``Store`` and the typed view
of it (``WindowState``).

Keys start with their kind, so each kind scans by prefix:

- ``m\\0<user>\\0<YYYY-MM-DD>``: the day's minutes (``daystate.DayMinutes.encode``);
- ``f\\0<user>\\0<YYYY-MM-DD>``: the day's features (JSON, the ``features`` map);
- ``u\\0<user>``: the user's record (``UserMeta``, JSON): zone, stream time, when last
  seen, its timer, and per retained day whether its week closed, its last revision and
  the digest of what that revision said;
- ``t\\0<8-byte big-endian epoch seconds><user>``: the user's wall-clock timer (idle
  close, retention of a user who stopped sending), so due timers are a prefix scan in
  time order and idle users need no memory.

``user_id`` never holds a NUL (the contract's characters), so keys cannot collide. A
changelog (the stage's) can wrap any ``Store``: every change is a ``put`` or ``delete``.
Not thread-safe: one loop owns a store.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache
from typing import Any, Protocol

import orjson

from consumer.windows.cache import WriteBack
from consumer.windows.daystate import DayMinutes


class Store(Protocol):
    """A byte key-value store; may be larger than memory. Every call blocks on local disk
    at most; raises ``OSError`` (or the binding's error) when the disk fails."""

    def get(self, key: bytes) -> bytes | None: ...

    def get_many(self, keys: list[bytes]) -> list[bytes | None]:
        """The values of ``keys``, in their order (None: absent), in one read."""
        ...

    def put(self, key: bytes, value: bytes) -> None: ...

    def delete(self, key: bytes) -> None: ...

    def write(self, puts: dict[bytes, bytes], deletes: set[bytes]) -> None:
        """Many changes atomically: all are applied or none."""
        ...

    def scan(self, prefix: bytes) -> Iterator[tuple[bytes, bytes]]:
        """Every (key, value) whose key starts with ``prefix``, in key order."""
        ...

    def close(self) -> None: ...


class MemoryStore:
    """A ``Store`` in a dict (tests, and state small enough for memory)."""

    def __init__(self) -> None:
        self._data: dict[bytes, bytes] = {}

    def get(self, key: bytes) -> bytes | None:
        return self._data.get(key)

    def get_many(self, keys: list[bytes]) -> list[bytes | None]:
        return [self._data.get(key) for key in keys]

    def put(self, key: bytes, value: bytes) -> None:
        self._data[key] = value

    def delete(self, key: bytes) -> None:
        self._data.pop(key, None)

    def write(self, puts: dict[bytes, bytes], deletes: set[bytes]) -> None:
        self._data.update(puts)
        for key in deletes:
            self._data.pop(key, None)

    def scan(self, prefix: bytes) -> Iterator[tuple[bytes, bytes]]:
        keys = sorted(self._data)
        for key in keys[bisect_left(keys, prefix) :]:
            if not key.startswith(prefix):
                break
            yield key, self._data[key]

    def close(self) -> None:
        self._data.clear()


@dataclass
class DayStatus:
    """Per retained day: whether its week closed, the last revision sent (-1: none) and the
    digest of what that revision said (to send a revision only when something changed)."""

    closed: bool = False
    revision: int = -1
    digest: str = ""


@dataclass
class UserMeta:
    """One user's record. ``tz``: the zone of the user's days (from the first sample; None
    while only features have arrived). ``stream_minute``: the end of the newest sample
    (epoch minutes). ``seen_s``: wall time of the last input (epoch seconds)."""

    tz: str | None = None
    stream_minute: int = 0
    seen_s: float = 0.0
    days: dict[date, DayStatus] = field(default_factory=dict)
    timer_s: int = 0  # 0: none

    @property
    def footprint(self) -> int:
        """About the bytes of memory the decoded record holds."""
        return _META_BYTES + _META_DAY_BYTES * len(self.days)

    def open_days(self) -> list[date]:
        return sorted(day for day, status in self.days.items() if not status.closed)

    def encode(self) -> bytes:
        # the days' keys written by orjson (``YYYY-MM-DD``, as ``isoformat``): 2.5x faster
        days = {d: [s.closed, s.revision, s.digest] for d, s in self.days.items()}
        fields = {"tz": self.tz, "s": self.stream_minute, "w": self.seen_s, "t": self.timer_s}
        return orjson.dumps({**fields, "d": days}, option=orjson.OPT_NON_STR_KEYS)

    @classmethod
    def decode(cls, raw: bytes) -> UserMeta:
        data: dict[str, Any] = orjson.loads(raw)
        days = {
            date.fromisoformat(d): DayStatus(bool(c), int(r), str(g))
            for d, (c, r, g) in data["d"].items()
        }
        return cls(data["tz"], int(data["s"]), float(data["w"]), days, int(data["t"]))


class LazyDay:
    """A stored day, decoded (``DayMinutes``) or not yet (its bytes). Raises
    ``CorruptDay`` on stored bytes this code did not write (when read)."""

    __slots__ = ("_day",)

    def __init__(self, day: DayMinutes | bytes) -> None:
        self._day = day

    @property
    def present_count(self) -> int:
        """How many real minutes are present (from the header and bitmap alone)."""
        day = self._day
        return day.present_count if isinstance(day, DayMinutes) else DayMinutes.count_present(day)

    @property
    def source(self) -> DayMinutes | bytes:
        """The day as held: decoded, or its stored bytes (``weeks.assemble`` takes both)."""
        return self._day

    def minutes(self) -> DayMinutes:
        """The day (decoded once; the cached object when it was cached: do not change)."""
        if not isinstance(self._day, DayMinutes):
            self._day = DayMinutes.decode(self._day)
        return self._day


_TIMERS = b"t\0"
#: A decoded ``UserMeta``'s memory: the object and its dict, and each day's entry (the
#: date, a ``DayStatus``, its digest string).
_META_BYTES = 600
_META_DAY_BYTES = 300


def _timer_key(when_s: int, user_id: str) -> bytes:
    return _TIMERS + when_s.to_bytes(8, "big") + user_id.encode()


def _key(kind: bytes, user_id: str, day: date | None = None) -> bytes:
    key = kind + b"\0" + user_id.encode()
    return key if day is None else key + _day_suffix(day)


@lru_cache(maxsize=1_024)
def _day_suffix(day: date) -> bytes:
    """``\\0YYYY-MM-DD`` (a third of a key's cost when formatted every time)."""
    return b"\0" + day.isoformat().encode()


class WindowState:
    """The typed view of a ``Store``: users, their days' minutes and features.

    Users' records and days go through a write-back cache of decoded objects holding
    about ``cache_bytes`` of memory at most (``cache.WriteBack``; 0: none): ``flush``
    before committing input offsets.
    Objects handed out are the cached ones: change them, then ``put_*`` them.
    """

    def __init__(self, store: Store, *, cache_bytes: int = 0) -> None:
        self.store = store
        self._cache = WriteBack(store, cache_bytes)

    def flush(self) -> int:
        """Write the changed cached objects in one atomic batch; how many. Blocks."""
        return self._cache.flush()

    @property
    def cached_bytes(self) -> int:
        """About the memory the cache holds (at most ``cache_bytes``)."""
        return self._cache.held_bytes

    def discard_unwritten(self) -> None:
        """Forget cached changes (after a failure, before restoring from the truth)."""
        self._cache.clear()

    def meta(self, user_id: str) -> UserMeta | None:
        return self._cache.get(_key(b"u", user_id), UserMeta.decode)

    def put_meta(self, user_id: str, meta: UserMeta) -> None:
        self._cache.put(_key(b"u", user_id), meta)

    def users(self) -> Iterator[tuple[str, UserMeta]]:
        """Every user with a record (flushes first; a full scan: not per record)."""
        self.flush()
        for key, raw in self.store.scan(b"u\0"):
            yield key[2:].decode(), UserMeta.decode(raw)

    def forget(self, user_id: str, meta: UserMeta) -> None:
        """Delete a user's record and timer (after their last day was dropped)."""
        self.set_timer(user_id, meta, 0)
        self._cache.forget(_key(b"u", user_id))
        self.store.delete(_key(b"u", user_id))

    def set_timer(self, user_id: str, meta: UserMeta, when_s: int) -> None:
        """Move the user's timer to ``when_s`` (0: none); ``meta`` must be saved after."""
        if meta.timer_s == when_s:
            return
        if meta.timer_s:
            self.store.delete(_timer_key(meta.timer_s, user_id))
        if when_s:
            self.store.put(_timer_key(when_s, user_id), b"")
        meta.timer_s = when_s

    def due(self, now_s: float) -> list[tuple[str, int]]:
        """The timers at or before ``now_s``, earliest first: (user, when)."""
        timers = []
        for key, _ in self.store.scan(_TIMERS):
            when_s = int.from_bytes(key[2:10], "big")
            if when_s > now_s:
                break
            timers.append((key[10:].decode(), when_s))
        return timers

    def take_timer(self, user_id: str, meta: UserMeta | None, when_s: int) -> None:
        """Remove a timer that fired (also one the user's record no longer names, as a
        crash between moving a timer and flushing the record can leave)."""
        self.store.delete(_timer_key(when_s, user_id))
        if meta is not None and meta.timer_s == when_s:
            meta.timer_s = 0

    def day(self, user_id: str, day: date) -> DayMinutes | None:
        return self._cache.get(_key(b"m", user_id, day), DayMinutes.decode)

    def peek_days(self, user_id: str, days: list[date]) -> dict[date, LazyDay]:
        """The days found of ``days`` without keeping them in the cache (a read that must
        not push hot days out; the cached objects when they are there: do not change
        them), each decoded only when its values are asked for (a week's coverage reads
        the presence bitmaps alone). The days not in memory: one read of the store."""
        keys = [_key(b"m", user_id, day) for day in days]
        found: dict[date, LazyDay] = {}
        unheld: list[tuple[date, bytes]] = []
        for day, key in zip(days, keys, strict=True):
            held = self._cache.held(key)
            if isinstance(held, DayMinutes):
                found[day] = LazyDay(held)
            else:
                unheld.append((day, key))
        raws = self._cache.raw_many([key for _, key in unheld])
        for (day, _), raw in zip(unheld, raws, strict=True):
            if raw is not None:
                found[day] = LazyDay(raw)
        return found

    def put_day(self, user_id: str, day: date, minutes: DayMinutes, *, hold: bool = True) -> None:
        """``hold`` False: encoded now and not kept decoded (``WriteBack.put``)."""
        self._cache.put(_key(b"m", user_id, day), minutes, hold=hold)

    def features(self, user_id: str, day: date) -> dict[str, float | None] | None:
        raw = self.store.get(_key(b"f", user_id, day))
        return None if raw is None else dict(orjson.loads(raw))

    def put_features(self, user_id: str, day: date, features: dict[str, float | None]) -> None:
        self.store.put(_key(b"f", user_id, day), orjson.dumps(features))

    def drop_day(self, user_id: str, day: date) -> None:
        """Forget a day's minutes and features (retention)."""
        self._cache.forget(_key(b"m", user_id, day))
        self.store.delete(_key(b"m", user_id, day))
        self.store.delete(_key(b"f", user_id, day))
