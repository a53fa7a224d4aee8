"""A user's local calendar days as ranges of real minutes, and PAT's 1,440 slots per day.

Instants are whole UTC minutes since the epoch (``int``). Local day ``D`` in zone ``Z``
is the half-open range ``[start(D), start(D + 1))`` of real minutes, ``start(D)`` being
local midnight of ``D`` (where a zone skips midnight, the first instant of ``D``). So a
day lasts 1,440 real minutes, or 1,380 / 1,500 on the days daylight saving time starts
or ends; the store keeps a day's real minutes exactly (``daystate``).

**The DST rule for PAT's 1,440 per day.** PAT reads a day as 1,440 wall-clock minute
slots, 00:00 to 23:59 local time. Each real minute goes to the slot of its local wall
clock time:

- a 23-hour day (clocks go forward): the skipped hour's 60 slots have no real minute;
  they count as **present with value 0** (nothing could have been measured then, so they
  neither lower the coverage nor keep the day from being complete);
- a 25-hour day (clocks go back): the repeated hour's two real minutes share a slot,
  whose value is their **sum** (a day's total activity is kept) and which is present when
  either is.

Pure; results are cached per (day, zone); thread-safe.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from functools import lru_cache
from typing import Final

import numpy as np
import numpy.typing as npt

from schemas.samples import zone

DAY_SLOTS: Final = 1_440
WEEK_DAYS: Final = 7
_ONE_DAY: Final = timedelta(days=1)


@lru_cache(maxsize=4_096)
def day_start(day: date, tz: str) -> int:
    """The first real minute (epoch minutes, UTC) of local day ``day`` in zone ``tz``."""
    midnight = datetime.combine(day, time(0), tzinfo=zone(tz))  # fold=0: before any gap
    return int(midnight.timestamp()) // 60


def day_range(day: date, tz: str) -> tuple[int, int]:
    """``[start, end)`` of local day ``day`` in epoch minutes."""
    return day_start(day, tz), day_start(day + _ONE_DAY, tz)


def day_length(day: date, tz: str) -> int:
    """How many real minutes local day ``day`` lasts (1,440; 1,380 or 1,500 on DST days)."""
    start, end = day_range(day, tz)
    return end - start


def day_of(minute: int, tz: str) -> date:
    """The local day holding the real minute ``minute`` (epoch minutes)."""
    day = datetime.fromtimestamp(minute * 60, zone(tz)).date()
    if minute >= day_start(day + _ONE_DAY, tz):  # a zone that repeats its midnight
        return day + _ONE_DAY
    if minute < day_start(day, tz):
        return day - _ONE_DAY
    return day


def split_by_day(start: int, count: int, tz: str) -> list[tuple[date, int, int, int]]:
    """Cut ``count`` consecutive minutes from ``start`` at local midnights: one
    ``(day, offset in the day, first index, end index)`` per day touched."""
    parts = []
    position, end = start, start + count
    while position < end:
        day = day_of(position, tz)
        first, last = day_range(day, tz)
        stop = min(end, last)
        parts.append((day, position - first, position - start, stop - start))
        position = stop
    return parts


class RecentDay:
    """``day_of`` and ``split_by_day`` that remember the last local day found: most
    lookups of a stream fall in it (no zone arithmetic then). Not thread-safe."""

    def __init__(self) -> None:
        self._last: tuple[str, int, int, date] = ("", 0, 0, date.min)  # zone, range, day

    def of(self, minute: int, tz: str) -> date:
        """``day_of(minute, tz)``."""
        last_tz, start, end, day = self._last
        if last_tz != tz or not start <= minute < end:
            day = day_of(minute, tz)
            self._last = (tz, *day_range(day, tz), day)
        return day

    def split(self, start: int, count: int, tz: str) -> list[tuple[date, int, int, int]]:
        """``split_by_day(start, count, tz)``."""
        last_tz, first, end, day = self._last
        if last_tz == tz and first <= start and start + count <= end:
            return [(day, start - first, 0, count)]
        parts = split_by_day(start, count, tz)
        day = parts[-1][0]
        self._last = (tz, *day_range(day, tz), day)
        return parts


@lru_cache(maxsize=256)
def wall_slots(day: date, tz: str) -> npt.NDArray[np.int16] | None:
    """The wall-clock slot (0-1,439) of each real minute of ``day``; None when they are
    the same (no clock change that day). Cached: computed minute by minute only on the
    few days a zone changes its clocks."""
    start, end = day_range(day, tz)
    tzinfo = zone(tz)
    first = datetime.fromtimestamp(start * 60, tzinfo).utcoffset()
    last = datetime.fromtimestamp((end - 1) * 60, tzinfo).utcoffset()
    if end - start == DAY_SLOTS and first == last:
        return None
    slots = np.empty(end - start, dtype=np.int16)
    for i in range(end - start):
        local = datetime.fromtimestamp((start + i) * 60, tzinfo)
        days_off = (local.date() - day).days
        slots[i] = min(max(days_off * DAY_SLOTS + local.hour * 60 + local.minute, 0), 1_439)
    return slots


def to_wall(
    values: npt.NDArray[np.float32], present: npt.NDArray[np.bool_], day: date, tz: str
) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.bool_]]:
    """A day's real minutes as PAT's 1,440 wall-clock slots (the DST rule above): values
    (absent minutes 0) and which slots are present. Pure."""
    slots = wall_slots(day, tz)
    kept = np.where(present, values, np.float32(0))
    if slots is None:
        return kept.astype(np.float32, copy=False), present.copy()
    wall = np.zeros(DAY_SLOTS, dtype=np.float32)
    np.add.at(wall, slots, kept)
    seen = np.zeros(DAY_SLOTS, dtype=np.bool_)
    seen[slots[present]] = True
    exists = np.zeros(DAY_SLOTS, dtype=np.bool_)
    exists[slots] = True
    return wall, seen | ~exists


@lru_cache(maxsize=1_024)
def week_days(last: date) -> tuple[date, ...]:
    """The seven local days of the week ending ``last``, oldest first (cached: a covered
    week looks them up twice, for every user whose week ends that day)."""
    return tuple(last - timedelta(days=WEEK_DAYS - 1 - i) for i in range(WEEK_DAYS))
