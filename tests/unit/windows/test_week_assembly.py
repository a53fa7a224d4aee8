"""The week ending a day, assembled from days decoded or as stored (issue 26 item 7: a
covered week's stored days are decoded straight into the week)."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np

from consumer.windows.days import DAY_SLOTS, day_length, to_wall, week_days
from consumer.windows.daystate import DayMinutes
from consumer.windows.weeks import WEEK_SLOTS, assemble, week_json

NY = "America/New_York"


def _day(rng: np.random.Generator, minutes: int, kind: int) -> DayMinutes:
    day = DayMinutes.empty(minutes)
    if kind == 0:  # busy whole counts (dense)
        day.merge(0, rng.integers(1, 400, minutes).astype(np.float32))
    elif kind == 1:  # a gap (dense with a presence bitmap)
        day.merge(30, rng.integers(0, 400, minutes - 90).astype(np.float32))
    elif kind == 2:  # mostly zero (sparse)
        day.merge(0, (rng.random(minutes) < 0.2).astype(np.float32) * 3)
    elif kind == 3:  # whole but for a -0.0 (sparse float32)
        day.merge(0, np.array([5.0, -0.0, 7.0], np.float32))
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
            kinds = {d: int(rng.integers(0, 5)) for d in week_days(last) if rng.random() > 0.15}
            days = {d: _day(rng, day_length(d, tz), kind) for d, kind in kinds.items()}
            given: dict[date, DayMinutes | bytes] = {
                d: m.encode() if (i + trial) % 2 else m for i, (d, m) in enumerate(days.items())
            }
            week = assemble(given, last, tz)
            values, present = _reference(days, last, tz)
            assert week.values.dtype == np.float32 and len(week.values) == WEEK_SLOTS
            assert week.values.tobytes() == values and week.present == present
            # whole when known from every day (none with a clock change): the same JSON
            plain = last != date(2026, 3, 12) and last != date(2026, 11, 3)
            assert week.whole == (plain and all(kind < 3 for kind in kinds.values()))
            assert week_json(week.values, known_whole=week.whole) == week_json(week.values)


def test_a_week_of_complete_days_is_fully_covered_and_keeps_each_day_in_place() -> None:
    last = date(2026, 6, 20)
    days: dict[date, DayMinutes | bytes] = {}
    for i, d in enumerate(week_days(last)):
        day = DayMinutes.empty(DAY_SLOTS)
        day.merge(0, np.full(DAY_SLOTS, i + 1, np.float32))
        days[d] = day.encode()
    week = assemble(days, last, "UTC")
    assert week.coverage == 1.0 and week.whole  # dense days of whole counts
    assert [int(week.values[i * DAY_SLOTS]) for i in range(7)] == [1, 2, 3, 4, 5, 6, 7]
    assert assemble({}, last + timedelta(days=30), "UTC").present == 0


def test_a_busy_week_read_all_at_once_equals_the_day_by_day_reference() -> None:
    """Every day complete and dense (stored or decoded): decoded together; a day that is
    not (sparse, a gap, fractions, absent) sends the week the day-by-day way."""
    rng = np.random.default_rng(7)
    last = date(2026, 6, 20)
    for odd_kind in (None, 1, 2, 4, -1):
        days = {d: _day(rng, DAY_SLOTS, 0) for d in week_days(last)}
        odd = week_days(last)[int(rng.integers(0, 7))]
        if odd_kind == -1:
            del days[odd]
        elif odd_kind is not None:
            days[odd] = _day(rng, DAY_SLOTS, odd_kind)
        for stored_every in (1, 2, 7):
            given: dict[date, DayMinutes | bytes] = {
                d: m.encode() if i % stored_every == 0 else m
                for i, (d, m) in enumerate(days.items())
            }
            week = assemble(given, last, "UTC")
            values, present = _reference(days, last, "UTC")
            assert week.values.tobytes() == values and week.present == present
            assert week.whole == (odd_kind in (None, 1, 2, -1))
            assert week_json(week.values, known_whole=week.whole) == week_json(week.values)
