"""The week ending a day, assembled from days decoded or as stored (issue 26 item 7: a
covered week's stored days are decoded straight into the week)."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np

from consumer.windows.days import DAY_SLOTS, day_length, to_wall, week_days
from consumer.windows.daystate import DayMinutes
from consumer.windows.weeks import WEEK_SLOTS, assemble

NY = "America/New_York"


def _day(rng: np.random.Generator, minutes: int, kind: int) -> DayMinutes:
    day = DayMinutes.empty(minutes)
    if kind == 0:  # busy whole counts (dense)
        day.merge(0, rng.integers(1, 400, minutes).astype(np.float32))
    elif kind == 1:  # a gap (dense with a presence bitmap)
        day.merge(30, rng.integers(0, 400, minutes - 90).astype(np.float32))
    elif kind == 2:  # mostly zero (sparse)
        day.merge(0, (rng.random(minutes) < 0.2).astype(np.float32) * 3)
    else:  # fractions (sparse float32)
        day.merge(100, rng.uniform(0, 5, 600).astype(np.float32))
    return day


def _reference(days: dict[date, DayMinutes], last: date, tz: str) -> tuple[bytes, int]:
    """Day by day through the DST rule's wall-clock slots (``days.to_wall``)."""
    parts, present = [], 0
    for day in week_days(last):
        minutes = days.get(day) or DayMinutes.empty(day_length(day, tz))
        wall, seen = to_wall(minutes.values, minutes.present, day, tz)
        parts.append(wall)
        present += int(np.count_nonzero(seen))
    return np.concatenate(parts).tobytes(), present


def test_a_week_from_stored_and_decoded_days_equals_the_day_by_day_reference() -> None:
    rng = np.random.default_rng(26)
    for last, tz in [
        (date(2026, 6, 20), "UTC"),
        (date(2026, 6, 20), NY),  # no clock change: slots in place
        (date(2026, 3, 12), NY),  # a 23-hour day
        (date(2026, 11, 3), NY),  # a 25-hour day
    ]:
        for trial in range(8):
            days = {
                d: _day(rng, day_length(d, tz), int(rng.integers(0, 4)))
                for d in week_days(last)
                if rng.random() > 0.15  # some days absent
            }
            given: dict[date, DayMinutes | bytes] = {
                d: m.encode() if (i + trial) % 2 else m for i, (d, m) in enumerate(days.items())
            }
            week = assemble(given, last, tz)
            values, present = _reference(days, last, tz)
            assert week.values.dtype == np.float32 and len(week.values) == WEEK_SLOTS
            assert week.values.tobytes() == values and week.present == present


def test_a_week_of_complete_days_is_fully_covered_and_keeps_each_day_in_place() -> None:
    last = date(2026, 6, 20)
    days: dict[date, DayMinutes | bytes] = {}
    for i, d in enumerate(week_days(last)):
        day = DayMinutes.empty(DAY_SLOTS)
        day.merge(0, np.full(DAY_SLOTS, i + 1, np.float32))
        days[d] = day.encode()
    week = assemble(days, last, "UTC")
    assert week.coverage == 1.0
    assert [int(week.values[i * DAY_SLOTS]) for i in range(7)] == [1, 2, 3, 4, 5, 6, 7]
    assert assemble({}, last + timedelta(days=30), "UTC").present == 0
