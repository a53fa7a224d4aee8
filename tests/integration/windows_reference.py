"""The windows stage's expected weeks, built here from ``SyntheticSamples.truth`` (the
generator's own minutes), apart from the stage's code; and the check of what the stage
sent against them.

A reference week: each real minute of a local day in the slot of its local wall-clock
time (``hour * 60 + minute``; summed where a clock goes back), a slot that a clock
skipped (the spring-forward hour) present with 0, a minute never sent absent with 0.
Pure; numpy per user-day, so 200 users x 9 days take well under a second.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt
import orjson
import pytest

from consumer.producer.synthetic_samples import SyntheticSamples

WEEK = 10_080
DAY = 1_440
MIN_COVERAGE = 0.8


@dataclass(frozen=True)
class Sent:
    """One record the stage sent: the event (``activity`` as a numpy array: a week of
    Python floats is ~300 KB), its ``revision`` and ``trigger`` headers, its bytes."""

    event: dict[str, Any]
    revision: int
    trigger: str
    raw: bytes

    @property
    def key(self) -> tuple[str, str]:
        return self.event["user_id"], self.event["as_of"]


@dataclass(frozen=True)
class Slots:
    """The real minutes of one local day and the wall-clock slot of each."""

    minutes: npt.NDArray[np.int64]
    slots: npt.NDArray[np.int64]
    skipped: npt.NDArray[np.int64]  # slots no real minute has (a clock went forward)

    @classmethod
    def of(cls, day: date, tz: str) -> Slots:
        zone = ZoneInfo(tz)
        nxt = day + timedelta(days=1)
        first = int(datetime(day.year, day.month, day.day, tzinfo=zone).timestamp()) // 60
        last = int(datetime(nxt.year, nxt.month, nxt.day, tzinfo=zone).timestamp()) // 60
        minutes = np.arange(first, last, dtype=np.int64)
        local = [datetime.fromtimestamp(int(m) * 60, zone) for m in minutes]
        slots = np.array([t.hour * 60 + t.minute for t in local], dtype=np.int64)
        skipped = np.setdiff1d(np.arange(DAY), slots)
        return cls(minutes, slots, skipped)


class Reference:
    """Weeks from the generator's minutes (see the module doc)."""

    def __init__(self, gen: SyntheticSamples) -> None:
        self.gen = gen
        self._slots: dict[tuple[date, str], Slots] = {}
        self._truth: dict[str, tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]] = {}
        self._days: dict[tuple[str, date], tuple[npt.NDArray[np.float64], npt.NDArray[np.bool_]]]
        self._days = {}

    def slots(self, day: date, tz: str) -> Slots:
        if (day, tz) not in self._slots:
            self._slots[(day, tz)] = Slots.of(day, tz)
        return self._slots[(day, tz)]

    def minutes_of(self, user: str) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
        """The generator's minutes of ``user``, sorted, and their values."""
        if user not in self._truth:
            truth = self.gen.truth[user]
            minutes = np.array(sorted(truth), dtype=np.int64)
            values = np.array([truth[int(m)] for m in minutes], dtype=np.float64)
            self._truth[user] = (minutes, values)
        return self._truth[user]

    def _day(self, user: str, day: date) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.bool_]]:
        if (user, day) not in self._days:
            self._days[(user, day)] = self._build_day(user, day)
        return self._days[(user, day)]

    def _build_day(
        self, user: str, day: date
    ) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.bool_]]:
        slots = self.slots(day, self.gen.zone_of[user])
        minutes, values = self.minutes_of(user)
        at = np.minimum(np.searchsorted(minutes, slots.minutes), max(len(minutes) - 1, 0))
        found = minutes[at] == slots.minutes if len(minutes) else np.zeros(0, dtype=bool)
        out, present = np.zeros(DAY), np.zeros(DAY, dtype=bool)
        np.add.at(out, slots.slots[found], values[at[found]])
        present[slots.slots[found]] = True
        present[slots.skipped] = True
        return out, present

    def week(self, user: str, last: date) -> tuple[npt.NDArray[np.float64], float]:
        """(the 10,080 values, the coverage) of ``user``'s week ending ``last``."""
        days = [self._day(user, last - timedelta(days=6 - i)) for i in range(7)]
        return np.concatenate([v for v, _ in days]), self.coverage(user, last)

    def closed(self) -> list[tuple[str, date]]:
        """Every user-day (the idle timer closes the tail of every user's stream)."""
        plan = self.gen.plan
        days = [plan.first_day + timedelta(days=d) for d in range(plan.days)]
        return [(u, d) for u in self.gen.truth for d in days]

    def scored(self) -> set[tuple[str, str]]:
        """The (user, day) whose week reaches the coverage floor once every day closed."""
        return {(u, d.isoformat()) for u, d in self.closed() if self.coverage(u, d) >= MIN_COVERAGE}

    def coverage(self, user: str, last: date) -> float:
        """The share of the week's minutes present (a skipped clock hour counts)."""
        days = [self._day(user, last - timedelta(days=6 - i)) for i in range(7)]
        return sum(int(p.sum()) for _, p in days) / WEEK


def read_sent(records: list[Any]) -> list[Sent]:
    """Each record the stage sent (confluent messages) as a ``Sent``."""
    out = []
    for message in records:
        headers = {k: v.decode() for k, v in message.headers() or []}
        event = orjson.loads(message.value())
        if event.get("activity") is not None:
            event["activity"] = np.asarray(event["activity"], dtype=np.float64)
        out.append(Sent(event, int(headers["revision"]), headers["trigger"], message.value()))
    return out


def last_revisions(sent: list[Sent]) -> dict[tuple[str, str], Sent]:
    """Each user-day's last revision."""
    last: dict[tuple[str, str], Sent] = {}
    for one in sent:
        if one.key not in last or one.revision > last[one.key].revision:
            last[one.key] = one
    return last


def check_weeks(
    gen: SyntheticSamples,
    ref: Reference,
    sent: list[Sent],
) -> Counter[str]:
    """Every revision of a user-day once, numbered from 0; each closed user-day's last
    revision carries its day's features and, when the reference week's coverage reaches
    the floor, exactly the reference week and coverage; weeks below the floor never sent
    with activity. Returns what was found, by kind."""
    revisions: dict[tuple[str, str], list[int]] = defaultdict(list)
    for one in sent:
        revisions[one.key].append(one.revision)
    with_activity = {one.key for one in sent if one.event.get("activity") is not None}
    last = last_revisions(sent)
    for key, seen in revisions.items():
        assert sorted(seen) == list(range(len(seen))), f"{key}: revisions {sorted(seen)}"
    features_of = {
        (e["user_id"], e["as_of"]): e["features"]
        for e in (orjson.loads(v) for _, v in gen.day_features)
    }
    found: Counter[str] = Counter()
    first_week_day = gen.plan.first_day + timedelta(days=6)
    for user, day in ref.closed():
        key, (values, coverage) = (user, day.isoformat()), ref.week(user, day)
        event = last[key].event if key in last else {}
        assert event.get("features") == features_of[key], key
        if coverage < MIN_COVERAGE:
            assert key not in with_activity, f"{key}: a week below the coverage floor was sent"
            spanned = day >= first_week_day
            found["sparse_below_coverage" if spanned else "early_below_coverage"] += 1
            continue
        activity = event.get("activity")
        assert activity is not None, f"{key}: no week sent"
        assert np.array_equal(activity, values), f"{key}: week differs from the reference"
        assert event["coverage"] == pytest.approx(coverage)
        found["weeks"] += 1
    found["revised"] = sum(1 for one in sent if one.trigger == "revision")
    return found
