"""Retention against what can still close (consumer/windows/windower.py) and the demo's
day features (consumer/producer/synthetic_samples.py), with a fake clock.

- A day first heard of late (its samples after the user's stream has passed it, still
  above the floor) closes its week at once by lateness: that week reaches back 6 days,
  below the floor, and must be whole (it used to miss its first day, dropped by then).
- The demo's samples and day features, read at the same pace from their two topics (the
  stage reads both at once), never make a day's features ``too_old``: the features go
  out day by day, not one user's whole span after another's.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import orjson
import pytest

from consumer.errors import InvalidEvent
from consumer.producer.synthetic_samples import SamplesPlan, SyntheticSamples
from consumer.settings import WindowsSettings
from consumer.windows.store import MemoryStore, WindowState
from consumer.windows.windower import Trigger, Windower
from schemas import ActivitySamples, FeatureEvent
from tests.fakes import FakeClock
from tests.unit.windows.test_windower import Minutes, make, real_minutes, reference_week, send


def test_a_week_closed_by_lateness_keeps_its_first_day() -> None:
    windower, _ = make(min_coverage=0.0)
    day = date(2026, 3, 10)
    sent: Minutes = {}
    for earlier in range(6, 0, -1):  # D-6 .. D-1, whole
        send(windower, "u1", real_minutes(day - timedelta(days=earlier), "UTC"), sent)
    send(windower, "u1", real_minutes(day + timedelta(days=1), "UTC"), sent)
    # D + 2 02:01: the stream is past the end of D plus 26 h: D-6 is below the floor
    send(windower, "u1", real_minutes(day + timedelta(days=2), "UTC")[:121], sent)
    assert windower.counts["days_dropped"] == 0
    late = real_minutes(day, "UTC")[:-30]  # D arrives now, its last 30 minutes never
    [week] = [e for e in send(windower, "u1", late, sent) if e.event.as_of == day]
    assert week.trigger is Trigger.LATENESS
    values, coverage = reference_week(sent, day, "UTC")
    assert week.event.activity == values
    assert week.event.coverage == pytest.approx(coverage) == pytest.approx(1 - 30 / 10_080)
    with pytest.raises(InvalidEvent) as refused:  # D-6 itself is no longer taken
        send(windower, "u1", real_minutes(day - timedelta(days=6), "UTC")[:5], sent)
    assert refused.value.reason == "too_old"


def _paced(first: list[bytes], second: list[bytes]) -> list[tuple[int, bytes]]:
    """Both lists merged at the same relative pace (as a consumer reading two backlogs),
    each kept in its order; (0: from ``first``, 1: from ``second``)."""
    out: list[tuple[int, bytes]] = []
    i = j = 0
    while i < len(first) or j < len(second):
        if j >= len(second) or (i < len(first) and (i + 1) * len(second) <= (j + 1) * len(first)):
            out.append((0, first[i]))
            i += 1
        else:
            out.append((1, second[j]))
            j += 1
    return out


def test_the_demos_day_features_read_with_its_samples_are_never_too_old() -> None:
    gen = SyntheticSamples(7, SamplesPlan(users=20, days=9))
    days = [orjson.loads(v)["as_of"] for _, v in gen.day_features]
    assert days == sorted(days)  # day by day
    clock = FakeClock(start=datetime(2026, 12, 5, tzinfo=UTC))
    windower = Windower(WindowState(MemoryStore()), WindowsSettings(), clock)
    refused: list[str] = []
    for topic, value in _paced([v for _, v in gen.day_features], [r.value for r in gen.samples]):
        try:
            if topic == 0:
                windower.on_day_features(FeatureEvent.model_validate_json(value))
            else:
                windower.on_samples(ActivitySamples.model_validate_json(value))
        except InvalidEvent as exc:
            refused.append(exc.reason)
    assert refused == []
    assert windower.counts["samples"] == len(gen.samples)
