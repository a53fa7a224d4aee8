"""The week ending a local day, and the ``FeatureEvent`` one revision of a user-day says.

A week is the 7 local days ending ``D``, oldest first, each as PAT's 1,440 wall-clock
slots (``days.to_wall``): 10,080 values with every missing minute filled with 0, and its
coverage, present slots / 10,080 (a day with no data has every slot missing, except the
slots of an hour its zone skips, which are present by the DST rule of ``days``).

Each revision of a user-day has a deterministic ``event_id``: ``uuid5`` of
``<user>/<YYYY-MM-DD>/<revision>`` in the stage's own namespace, so a replay after a
crash sends the very ids it sent before.

``Revision.json`` is the event's JSON built without a 10,080-item Python list: the week's
values straight from numpy by orjson. A week of whole counts (steps: every value a whole
number, none -0.0) is written as JSON integers (``12``, not ``12.0``: the same number;
the contract's strict floats accept integers from JSON and read them as the very same
floats), ten times faster than formatting floats; any other week byte for byte what
``model_dump_json`` gives for the ``FeatureEvent`` of ``Revision.event``
(tests/unit/windows/test_week_json.py holds us to both). Pure.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Final
from uuid import UUID

import numpy as np
import numpy.typing as npt
import orjson

from consumer.windows.days import DAY_SLOTS, WEEK_DAYS, day_length, to_wall, wall_slots, week_days
from consumer.windows.daystate import DayMinutes, whole_counts
from schemas import FeatureEvent

#: The namespace of the stage's event ids (fixed forever: ids must not change on upgrade).
EVENT_NAMESPACE: Final = UUID("5f0d3c52-8b1e-4c5e-9a7a-3f1d6b2e9c41")
WEEK_SLOTS: Final = DAY_SLOTS * WEEK_DAYS


@dataclass(frozen=True)
class Week:
    values: npt.NDArray[np.float32]  # 10,080, missing minutes 0
    present: int  # slots present
    #: Known to be whole numbers below 65,536, none -0.0 (from the days' formats):
    #: ``week_json`` and ``digest`` need not look. False: not known (they look).
    whole: bool = False

    @property
    def coverage(self) -> float:
        return self.present / WEEK_SLOTS


def assemble(days: Mapping[date, DayMinutes | bytes], last: date, tz: str) -> Week:
    """The week ending ``last`` from the stored days, decoded or as stored (an absent
    day: nothing present). Raises ``CorruptDay`` on stored bytes that are not a day."""
    dates = week_days(last)
    if any(wall_slots(day, tz) is not None for day in dates):
        return _assemble_wall(days, dates, tz)
    # no clock change: the days' minutes are the week's slots, written in place
    complete = _assemble_complete([days.get(day) for day in dates])
    if complete is not None:
        return complete
    values = np.zeros(WEEK_SLOTS, dtype=np.float32)
    present = np.zeros(WEEK_SLOTS, dtype=np.bool_)
    whole = True
    for i, day in enumerate(dates):
        got = days.get(day)
        slots = slice(i * DAY_SLOTS, (i + 1) * DAY_SLOTS)
        if isinstance(got, bytes):
            whole = DayMinutes.decode_into(got, values[slots], present[slots]) and whole
        elif got is not None:
            np.copyto(values[slots], got.values, where=got.present)
            present[slots] = got.present
            whole = whole and got.whole
    return Week(values, int(np.count_nonzero(present)), whole)


def _assemble_complete(got: list[DayMinutes | bytes | None]) -> Week | None:
    """The week when each of its days is complete, 1,440 minutes long, and stored dense
    or decoded (a busy user's week: the stored ones decoded all at once); else None."""
    fresh = [(i, g) for i, g in enumerate(got) if isinstance(g, DayMinutes)]
    if not all(day.complete and day.minutes == DAY_SLOTS for _, day in fresh):
        return None
    stored = [(i, g) for i, g in enumerate(got) if isinstance(g, bytes)]
    if len(stored) + len(fresh) != WEEK_DAYS:
        return None
    decoded = DayMinutes.decode_complete([raw for _, raw in stored], DAY_SLOTS)
    if decoded is None:
        return None
    values = np.empty((WEEK_DAYS, DAY_SLOTS), np.float32)
    values[[i for i, _ in stored]] = decoded
    for i, day in fresh:
        values[i] = day.values
    return Week(values.reshape(-1), WEEK_SLOTS, whole=all(day.whole for _, day in fresh))


def _assemble_wall(
    days: Mapping[date, DayMinutes | bytes], dates: tuple[date, ...], tz: str
) -> Week:
    """``assemble`` through each day's wall-clock slots (a week with a clock change)."""
    values = np.zeros(WEEK_SLOTS, dtype=np.float32)
    present = 0
    for i, day in enumerate(dates):
        got = days.get(day)
        minutes = DayMinutes.decode(got) if isinstance(got, bytes) else got
        minutes = minutes or DayMinutes.empty(day_length(day, tz))
        wall, seen = to_wall(minutes.values, minutes.present, day, tz)
        values[i * DAY_SLOTS : (i + 1) * DAY_SLOTS] = wall
        present += int(np.count_nonzero(seen))
    return Week(values, present)


def event_id(user_id: str, day: date, revision: int) -> str:
    """The deterministic id of one revision of one user-day: ``str(uuid5(...))`` written
    straight from the SHA-1 (half the cost of the ``UUID`` object)."""
    name = f"{user_id}/{day.isoformat()}/{revision}".encode()
    raw = bytearray(hashlib.sha1(_NAMESPACE_BYTES + name, usedforsecurity=False).digest()[:16])
    raw[6] = (raw[6] & 0x0F) | 0x50  # version 5
    raw[8] = (raw[8] & 0x3F) | 0x80  # RFC 4122 variant
    h = raw.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


_NAMESPACE_BYTES: Final = EVENT_NAMESPACE.bytes


def digest(features: dict[str, float | None] | None, week: Week | None) -> str:
    """What a revision says: ``3:`` and 32 hex digits (SHA-1, truncated, of the features
    and the week: with SHA-NI about 2.5x faster than BLAKE2b; not a security check):
    equal digests, nothing new to send. A week of whole counts below 65,536 (steps) is
    digested as uint16 (20 KB, 11 us; its float32 40 KB took 22 us), any other as
    float32, each form tagged: the form follows from the values alone."""
    h = hashlib.sha1(usedforsecurity=False)
    h.update(orjson.dumps(features, option=orjson.OPT_SORT_KEYS))
    if week is not None:
        counts = week.values.astype("<u2") if week.whole else whole_counts(week.values)
        if counts is not None:
            h.update(b"u")
            h.update(counts.data)
        else:
            h.update(b"f")
            h.update(np.ascontiguousarray(week.values).data)  # .tobytes(), not copied
        h.update(week.present.to_bytes(4, "little"))
    return _DIGEST + h.hexdigest()[:32]


def said_before(stored: str, features: dict[str, float | None] | None, week: Week | None) -> bool:
    """Whether ``stored`` is an earlier version's digest of what ``features`` and ``week``
    say, as user records in a store or changelog may still hold: ``2:`` and SHA-1 of the
    week as float32, or 32 hex digits of BLAKE2b of the same bytes; False for any other
    (``digest``'s are compared as they are)."""
    if not stored or stored.startswith(_DIGEST):
        return False
    sha1 = stored.startswith(_SHA1_FLOATS)
    h: Any = hashlib.sha1(usedforsecurity=False) if sha1 else hashlib.blake2b(digest_size=16)
    _said_floats(h, features, week)
    said: str = h.hexdigest()
    return stored == (_SHA1_FLOATS + said[:32] if sha1 else said)


#: The prefix of ``digest``'s digests; ``2:``: an earlier version's (SHA-1 of the week as
#: float32); none: an earlier one's (BLAKE2b).
_DIGEST: Final = "3:"
_SHA1_FLOATS: Final = "2:"


def _said_floats(h: Any, features: dict[str, float | None] | None, week: Week | None) -> None:
    h.update(orjson.dumps(features, option=orjson.OPT_SORT_KEYS))
    if week is not None:
        h.update(np.ascontiguousarray(week.values))
        h.update(week.present.to_bytes(4, "little"))


@dataclass(frozen=True, eq=False)
class Revision:
    """What one revision of one user-day says: the day's features (if any) and the week
    (if closed and covered enough), as sent at ``emitted_at``."""

    user_id: str
    day: date
    revision: int
    features: dict[str, float | None] | None
    week: Week | None
    emitted_at: datetime

    def event(self) -> FeatureEvent:
        """The event (``build_event``: a 10,080-item list of floats). Raises ValueError
        when both parts are missing."""
        return build_event(
            self.user_id, self.day, self.revision, self.features, self.week, self.emitted_at
        )

    def json(self) -> bytes:
        """``self.event().model_dump_json()``, UTF-8, without building the event's list
        (a week of whole counts with integers: ``week_json``). Raises ValueError when
        both parts are missing."""
        if self.week is None:
            return self.event().model_dump_json().encode()
        fields = _fields(self.user_id, self.day, self.revision, self.features, self.week)
        activity = week_json(self.week.values, known_whole=self.week.whole)
        if self.features is None:  # a week alone (activity-only users, a backfill)
            return _week_alone(fields, self.emitted_at, activity)
        head = FeatureEvent.model_construct(
            **fields, emitted_at=self.emitted_at, activity=[]
        ).model_dump_json()
        before, empty, after = head.encode().rpartition(_EMPTY_ACTIVITY)
        if not empty:  # cannot happen: the model writes every field
            raise ValueError("an event's JSON without its activity field")
        return b"".join((before, b'"activity":', activity, after))


def _week_alone(fields: dict[str, Any], emitted_at: datetime, activity: bytes) -> bytes:
    """What pydantic writes for the event of ``fields`` without features (its fields in
    the model's order; a user id of the contract's characters needs no escape, an
    aware time is written as pydantic does, ``Z`` for UTC), by orjson: a fifth of the
    model's cost (``test_week_json.py`` holds it to pydantic)."""
    head = orjson.dumps(
        {
            "schema_version": fields["schema_version"],
            "event_id": fields["event_id"],
            "user_id": fields["user_id"],
            "as_of": fields["as_of"],
            "emitted_at": emitted_at,
            "features": None,
        },
        option=orjson.OPT_UTC_Z,
    )
    coverage = orjson.dumps(fields["coverage"])
    return b"".join((head[:-1], b',"activity":', activity, b',"coverage":', coverage, b"}"))


def week_json(values: npt.NDArray[np.float32], *, known_whole: bool = False) -> bytes:
    """The week's values as a JSON array: integers when every value is a whole number and
    none is -0.0 (the contract's values are finite, non-negative and at most 1e7: an
    int32 holds them, a float32 holds them back exactly), else pydantic's shortest
    float64 repr. ``known_whole``: the caller knows they are (``Week.whole``), so they
    are not looked at. Pure."""
    whole = values.astype(np.int32)  # defined: finite, in [0, 1e7]
    # the same bits back (-0.0 comes back as 0.0): a third of array_equal's and signbit's
    if known_whole or whole.astype(np.float32).tobytes() == values.tobytes():
        return orjson.dumps(whole, option=orjson.OPT_SERIALIZE_NUMPY)
    return orjson.dumps(values.astype(np.float64), option=orjson.OPT_SERIALIZE_NUMPY)


#: Where the week goes in an event's JSON: no field after it can hold a string.
_EMPTY_ACTIVITY: Final = b'"activity":[]'


def _fields(
    user_id: str,
    day: date,
    revision: int,
    features: dict[str, float | None] | None,
    week: Week | None,
) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "schema_version": 1,
        "event_id": event_id(user_id, day, revision),
        "user_id": user_id,
        "as_of": day,
        "features": features,
    }
    if week is not None:
        fields["coverage"] = week.coverage
    return fields


def build_event(
    user_id: str,
    day: date,
    revision: int,
    features: dict[str, float | None] | None,
    week: Week | None,
    emitted_at: datetime,
) -> FeatureEvent:
    """The event of one revision: the day's features (if any) and the week (if closed and
    covered enough). Built without a second validation (a third of a millisecond for a
    week): every part comes from validated input (features as received; minutes finite,
    non-negative and at most 1e7, in float32; coverage in 0-1), which a unit test checks
    by validating what this builds. Raises ValueError when both parts are missing."""
    if features is None and week is None:
        raise ValueError("an event needs features, activity, or both")
    fields = _fields(user_id, day, revision, features, week)
    if week is not None:
        fields["activity"] = week.values.astype(np.float64).tolist()
    return FeatureEvent.model_construct(**fields, emitted_at=emitted_at)
