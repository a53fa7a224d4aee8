"""Activity samples v1: minute-level activity as wearable pipelines send it (issue 26).

One record carries consecutive intervals of one user's activity from ``start``:

- ``interval_s`` is 60 (one value per minute) or another whole number of minutes up to a
  day; a coarser value is resampled into minutes by spreading it evenly over the minutes
  it covers (each gets ``value / k`` for ``k = interval_s / 60``), so that summing the
  minutes gives the value back: the SUM is preserved.
- ``values``: 1-1,440 finite non-negative numbers; the limit applies to the minutes
  covered (``len(values) * interval_s / 60 <= 1440``), so one record never holds more than
  a day of minutes whatever its interval.
- ``start``: RFC 3339 with an offset, on a whole minute (seconds and fractions 0).
- ``tz``: the user's IANA zone (``Europe/Amsterdam``); absent: the service's
  ``WINDOWS__DEFAULT_TZ`` (default ``UTC``). An unknown zone is invalid.

Validate from bytes with ``ActivitySamples.model_validate_json`` (strict JSON mode).
Pure; zone look-ups read the system's or the ``tzdata`` package's zone files.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from functools import cache
from typing import Annotated, Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, AwareDatetime, Field, StringConstraints, model_validator
from pydantic_core import PydanticCustomError

from schemas.events import ActivityCount, SchemaVersion, UserId, _Strict

MINUTE_S: Final = 60
DAY_MINUTES: Final = 1_440
MAX_INTERVAL_S: Final = DAY_MINUTES * MINUTE_S


@cache
def zone(name: str) -> ZoneInfo:
    """The IANA zone ``name``. Raises ValueError (``unknown time zone``) for a name the
    zone database does not hold. Cached per process; thread-safe."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError) as exc:
        raise ValueError(f"unknown time zone {name!r}") from exc


def _known_zone(name: str) -> str:
    try:
        zone(name)
    except ValueError as exc:
        raise PydanticCustomError("unknown_time_zone", str(exc)) from None
    return name


#: An IANA time zone name (``America/New_York``, ``UTC``), checked against the zone database.
TimeZoneName = Annotated[
    str,
    StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z][A-Za-z0-9_+\-/]*$"),
    AfterValidator(_known_zone),
]


def _whole_minute(value: datetime) -> datetime:
    if value.second or value.microsecond or int(value.timestamp()) % MINUTE_S:
        raise PydanticCustomError("whole_minute", "start should be on a whole minute")
    return value


IntervalS = Annotated[int, Field(strict=True, ge=MINUTE_S, le=MAX_INTERVAL_S, multiple_of=60)]


class ActivitySamples(_Strict):
    """Consecutive activity intervals of one user from ``start`` (see the module doc)."""

    schema_version: SchemaVersion
    user_id: UserId
    start: Annotated[AwareDatetime, AfterValidator(_whole_minute)]
    interval_s: IntervalS
    values: Annotated[list[ActivityCount], Field(min_length=1, max_length=DAY_MINUTES)]
    tz: TimeZoneName | None = None

    @model_validator(mode="after")
    def _at_most_a_day_of_minutes(self) -> ActivitySamples:
        if self.minutes_covered > DAY_MINUTES:
            raise ValueError(
                f"{len(self.values)} values of {self.interval_s} s cover "
                f"{self.minutes_covered} minutes: at most {DAY_MINUTES} per record"
            )
        return self

    @property
    def minutes_covered(self) -> int:
        """How many minutes the record covers (values x interval in minutes)."""
        return len(self.values) * (self.interval_s // MINUTE_S)

    @property
    def end(self) -> datetime:
        """The instant just after the last covered minute."""
        return self.start + timedelta(minutes=self.minutes_covered)

    def minute_values(self) -> list[float]:
        """One value per covered minute, oldest first: each interval's value spread evenly
        over its minutes (the sum is preserved). Pure."""
        per = self.interval_s // MINUTE_S
        if per == 1:
            return list(self.values)
        return [value / per for value in self.values for _ in range(per)]
