"""The windows stage's logic with a fake clock: triggers, revisions, coverage, retention,
DST days and three zones, each week checked against a reference built here minute by
minute with plain datetime arithmetic (independent of ``consumer.windows.days``)."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import orjson
import pytest

from consumer.errors import InvalidEvent
from consumer.settings import WindowsSettings
from consumer.windows.fast_samples import MinuteRecord
from consumer.windows.intake import decode_minutes
from consumer.windows.store import MemoryStore, WindowState
from consumer.windows.weeks import EVENT_NAMESPACE, build_event, digest, said_before
from consumer.windows.windower import Emission, Trigger, Windower
from schemas import ActivitySamples, FeatureEvent
from tests.fakes import FakeClock, feature_values

NY = "America/New_York"
Minutes = dict[int, float]  # epoch minute -> value: what the generator sent


def midnight(day: date, tz: str) -> datetime:
    return datetime.combine(day, time(0), tzinfo=ZoneInfo(tz))


def real_minutes(day: date, tz: str) -> list[int]:
    first = int(midnight(day, tz).timestamp()) // 60
    last = int(midnight(day + timedelta(days=1), tz).timestamp()) // 60
    return list(range(first, last))


def value_at(m: int) -> float:
    return float((m * 7) % 50)


def send(
    windower: Windower,
    user: str,
    minutes: list[int],
    sent: Minutes,
    tz: str | None = None,
    value: Callable[[int], float] = value_at,
) -> list[Emission]:
    """One record of consecutive minutes (the generator also remembers what it sent)."""
    values = [value(m) for m in minutes]
    sent.update(zip(minutes, values, strict=True))
    record = ActivitySamples.model_validate(
        {
            "schema_version": 1,
            "user_id": user,
            "start": datetime.fromtimestamp(minutes[0] * 60, UTC),
            "interval_s": 60,
            "values": values,
            "tz": tz,
        }
    )
    return windower.on_samples(record)


def reference_week(sent: Minutes, last: date, tz: str) -> tuple[list[float], float]:
    """10,080 values and coverage by the stated rule: each sent minute at its local wall
    slot (summed when a wall minute repeats), wall minutes that never existed present."""
    zone = ZoneInfo(tz)
    first = last - timedelta(days=6)
    values = [0.0] * 10_080
    present = [False] * 10_080
    for m, v in sent.items():
        local = datetime.fromtimestamp(m * 60, zone)
        index = (local.date() - first).days * 1_440 + local.hour * 60 + local.minute
        if 0 <= index < 10_080:
            values[index] += v
            present[index] = True
    for i in range(10_080):
        wall = datetime.combine(first, time(0)) + timedelta(minutes=i)
        exists = datetime.fromtimestamp(wall.replace(tzinfo=zone).timestamp(), zone)
        if exists.replace(tzinfo=None) != wall:  # skipped by a clock change
            present[i] = True
    return values, sum(present) / 10_080


def make(clock: FakeClock | None = None, **settings: object) -> tuple[Windower, FakeClock]:
    clock = clock or FakeClock(start=datetime(2026, 3, 20, 12, 0, tzinfo=UTC))
    windower = Windower(WindowState(MemoryStore()), WindowsSettings(**settings), clock)  # type: ignore[arg-type]
    return windower, clock


def features_event(user: str, day: date) -> FeatureEvent:
    return FeatureEvent.model_validate(
        {
            "schema_version": 1,
            "event_id": str(uuid.uuid4()),
            "user_id": user,
            "as_of": day,
            "emitted_at": datetime(2026, 3, 20, tzinfo=UTC),
            "features": feature_values(),
        }
    )


def days_from(first: date, count: int) -> list[date]:
    return [first + timedelta(days=i) for i in range(count)]


def test_complete_days_close_their_weeks_and_thin_weeks_are_not_scored() -> None:
    windower, _ = make()
    sent: Minutes = {}
    out: list[Emission] = []
    for day in days_from(date(2026, 3, 1), 7):
        out += send(windower, "u1", real_minutes(day, "UTC"), sent)
    assert [e.event.as_of for e in out] == [date(2026, 3, 6), date(2026, 3, 7)]  # 6/7, 7/7
    assert all(e.trigger is Trigger.COMPLETE and e.revision == 0 for e in out)
    values, coverage = reference_week(sent, date(2026, 3, 7), "UTC")
    last = out[-1].event
    assert last.activity == values and last.coverage == coverage == 1.0
    assert out[0].event.coverage == pytest.approx(6 / 7) and last.features is None
    assert last.event_id == str(uuid.uuid5(EVENT_NAMESPACE, "u1/2026-03-07/0"))
    assert windower.counts["weeks_not_scored:low_coverage"] == 5
    assert windower.counts["weeks_closed:complete"] == 7


def test_day_features_go_out_at_once_and_again_with_the_week() -> None:
    windower, _ = make(min_coverage=0.0)
    sent: Minutes = {}
    day = date(2026, 3, 10)
    first = windower.on_day_features(features_event("u2", day))
    assert [(e.revision, e.trigger) for e in first] == [(0, Trigger.FEATURES)]
    assert first[0].event.features == feature_values() and first[0].event.activity is None
    assert windower.on_day_features(features_event("u2", day)) == []  # the same again
    second = send(windower, "u2", real_minutes(day, "UTC"), sent)
    assert [(e.revision, e.trigger) for e in second] == [(1, Trigger.COMPLETE)]
    event = second[0].event
    assert event.features == feature_values() and event.as_of == day
    assert event.activity == reference_week(sent, day, "UTC")[0]
    assert event.coverage == pytest.approx(1 / 7)
    assert event.event_id != first[0].event.event_id
    assert event.event_id == str(uuid.uuid5(EVENT_NAMESPACE, "u2/2026-03-10/1"))


def test_a_week_without_features_goes_out_alone_and_features_join_it_later() -> None:
    windower, _ = make(min_coverage=0.0)
    day = date(2026, 3, 10)
    alone = send(windower, "u3", real_minutes(day, "UTC"), {})
    assert alone[0].event.features is None and alone[0].revision == 0
    joined = windower.on_day_features(features_event("u3", day))
    assert [(e.revision, e.trigger) for e in joined] == [(1, Trigger.FEATURES)]
    assert joined[0].event.activity == alone[0].event.activity
    assert joined[0].event.features == feature_values()


def test_duplicates_change_nothing_and_a_conflicting_minute_is_a_revision() -> None:
    windower, _ = make(min_coverage=0.0)
    sent: Minutes = {}
    day = date(2026, 3, 10)
    minutes = real_minutes(day, "UTC")
    assert len(send(windower, "u4", minutes, sent)) == 1
    assert send(windower, "u4", minutes[:600], sent) == []  # a re-polled duplicate
    assert windower.counts["duplicate_samples"] == 1
    revised = send(windower, "u4", minutes[5:6], sent, value=lambda m: 999.0)
    assert [(e.revision, e.trigger) for e in revised] == [(1, Trigger.REVISION)]
    assert revised[0].event.activity == reference_week(sent, day, "UTC")[0]
    assert revised[0].event.activity[6 * 1_440 + 5] == 999.0
    assert send(windower, "u4", minutes[5:6], sent, value=lambda m: 999.0) == []


def test_without_revisions_a_change_to_a_sent_week_is_counted_late() -> None:
    windower, _ = make(min_coverage=0.0, revisions=False)
    minutes = real_minutes(date(2026, 3, 10), "UTC")
    send(windower, "u5", minutes, {})
    assert send(windower, "u5", minutes[5:6], {}, value=lambda m: 999.0) == []
    assert windower.counts["late_samples"] == 1


def test_a_closed_week_is_revised_whole_after_its_oldest_day_left_the_floor() -> None:
    """Found by the integration test: a change to day D once D - 6 is below the floor (no
    longer taken) used to find D - 6 dropped, and was counted instead of revised
    (``revisions_too_old``); days are now kept 6 days below the floor, so the revision
    goes out with the whole week."""
    windower, _ = make(min_coverage=0.0)
    day = date(2026, 3, 10)
    minutes = real_minutes(day, "UTC")
    sent: Minutes = {}
    send(windower, "u9", real_minutes(day - timedelta(days=6), "UTC")[:60], sent)
    closed = send(windower, "u9", minutes, sent)  # D complete (and D - 6 past the lateness)
    assert [e.event.as_of for e in closed] == [day - timedelta(days=6), day]
    later = real_minutes(day + timedelta(days=2), "UTC")[180:181]  # D+2 03:00: floor D-5
    assert send(windower, "u9", later, sent) == []
    [revised] = send(windower, "u9", minutes[5:6], sent, value=lambda m: 999.0)
    assert revised.trigger is Trigger.REVISION
    assert revised.event.activity == reference_week(sent, day, "UTC")[0]
    assert revised.event.activity[6 * 1440 + 5] == 999.0
    assert any(revised.event.activity[:60])  # D - 6, below the floor, still there
    assert windower.counts["revisions_too_old"] == 0


def test_the_stream_passing_the_lateness_closes_an_incomplete_day() -> None:
    windower, _ = make(min_coverage=0.0)
    sent: Minutes = {}
    day = date(2026, 3, 10)
    gappy = real_minutes(day, "UTC")[:-30]  # the last 30 minutes never come
    assert send(windower, "u6", gappy, sent) == []
    next_day = real_minutes(day + timedelta(days=1), "UTC")
    assert send(windower, "u6", next_day[:120], sent) == []  # 2 h past the end: too soon
    after = real_minutes(day + timedelta(days=2), "UTC")
    closed = send(windower, "u6", after[:121], sent)  # 26 h + 1 min past the end of day
    assert [(e.event.as_of, e.trigger) for e in closed] == [(day, Trigger.LATENESS)]
    values, coverage = reference_week(sent, day, "UTC")
    assert closed[0].event.activity == values
    assert closed[0].event.coverage == pytest.approx(coverage) == pytest.approx(1_410 / 10_080)


def test_an_idle_user_has_their_ended_days_closed_by_the_wall_clock() -> None:
    windower, clock = make(min_coverage=0.0, idle_close_s=3_600.0)
    day = date(2026, 3, 19)  # the clock reads 2026-03-20 12:00 UTC
    send(windower, "u7", real_minutes(day, "UTC")[:100], {})
    send(windower, "u8", real_minutes(day + timedelta(days=1), "UTC")[:100], {})
    assert windower.on_timers() == []
    clock.advance(3_599)
    assert windower.on_timers() == []
    clock.advance(1)
    idle = windower.on_timers()
    assert [(e.event.user_id, e.event.as_of, e.trigger) for e in idle] == [
        ("u7", day, Trigger.IDLE)
    ]  # u8's day (March 20) has not ended yet
    clock.advance(12 * 3_600)
    assert [e.event.user_id for e in windower.on_timers()] == ["u8"]


def test_a_user_who_sends_again_is_not_idle() -> None:
    windower, clock = make(min_coverage=0.0, idle_close_s=3_600.0)
    minutes = real_minutes(date(2026, 3, 19), "UTC")
    send(windower, "u9", minutes[:100], {})
    clock.advance(3_000)
    send(windower, "u9", minutes[100:200], {})
    clock.advance(1_000)
    assert windower.on_timers() == []
    clock.advance(3_000)
    assert [e.trigger for e in windower.on_timers()] == [Trigger.IDLE]


def test_state_and_timers_survive_a_new_windower_on_the_same_store() -> None:
    clock = FakeClock(start=datetime(2026, 3, 20, 12, 0, tzinfo=UTC))
    store = MemoryStore()
    settings = WindowsSettings(min_coverage=0.0, idle_close_s=60.0)
    first = Windower(WindowState(store), settings, clock)
    sent: Minutes = {}
    send(first, "u10", real_minutes(date(2026, 3, 18), "UTC")[:700], sent)
    clock.advance(61)
    again = Windower(WindowState(store), settings, clock)
    closed = again.on_timers()
    assert closed[0].event.activity == reference_week(sent, date(2026, 3, 18), "UTC")[0]


def test_old_days_are_dropped_and_samples_or_features_for_them_refused() -> None:
    windower, _ = make(min_coverage=0.0)
    for day in days_from(date(2026, 3, 1), 3):
        send(windower, "u11", real_minutes(day, "UTC"), {})
    late = real_minutes(date(2026, 3, 11), "UTC")
    send(windower, "u11", late[:121], {})  # stream: March 11 02:01 -> floor March 4
    assert windower.counts["days_dropped"] == 0  # kept 6 days below the floor
    with pytest.raises(InvalidEvent, match="older than the retention") as refused:
        send(windower, "u11", real_minutes(date(2026, 3, 2), "UTC")[:10], {})
    assert refused.value.reason == "too_old"
    with pytest.raises(InvalidEvent) as too_old:
        windower.on_day_features(features_event("u11", date(2026, 3, 3)))
    assert too_old.value.reason == "too_old"
    assert windower.on_day_features(features_event("u11", date(2026, 3, 4)))  # kept
    later = real_minutes(date(2026, 3, 17), "UTC")
    send(windower, "u11", later[:121], {})  # March 17 02:01: floor March 10, kept from 4
    assert windower.counts["days_dropped"] == 3


def test_samples_far_in_the_future_are_refused() -> None:
    windower, _ = make()
    future = real_minutes(date(2026, 3, 22), "UTC")  # clock: March 20 12:00
    with pytest.raises(InvalidEvent) as refused:
        send(windower, "u12", future[:10], {})
    assert refused.value.reason == "future"
    assert send(windower, "u12", real_minutes(date(2026, 3, 21), "UTC")[:10], {}) == []


@pytest.mark.parametrize(("day", "length"), [(date(2026, 3, 8), 1_380), (date(2026, 11, 1), 1_500)])
def test_a_dst_day_in_new_york_completes_and_matches_the_reference(day: date, length: int) -> None:
    clock = FakeClock(start=datetime.combine(day + timedelta(days=3), time(0), UTC))
    windower, _ = make(clock)
    sent: Minutes = {}
    out: list[Emission] = []
    for d in days_from(day - timedelta(days=6), 7):
        minutes = real_minutes(d, NY)
        for hour in range(0, len(minutes), 60):  # hourly chunks
            out += send(windower, "ny", minutes[hour : hour + 60], sent, tz=NY)
    assert len(real_minutes(day, NY)) == length
    assert [(e.event.as_of, e.trigger) for e in out][-1] == (day, Trigger.COMPLETE)
    values, coverage = reference_week(sent, day, NY)
    assert out[-1].event.activity == values and out[-1].event.coverage == coverage == 1.0


def test_three_zones_split_the_same_instants_into_their_own_days() -> None:
    windower, _ = make(min_coverage=0.0)
    instants = real_minutes(date(2026, 3, 10), "UTC")
    # UTC's March 10 is New York's 9th 20:00 to 10th 20:00 and India's 10th 05:30 to 11th
    # 05:30; the next UTC day completes New York's 10th and India's 11th.
    completed = {"utc": date(2026, 3, 11), "ny": date(2026, 3, 10), "ist": date(2026, 3, 11)}
    for user, tz in (("utc", "UTC"), ("ny", NY), ("ist", "Asia/Kolkata")):
        sent: Minutes = {}
        out = send(windower, user, instants, sent, tz=tz)
        assert [e.event.as_of for e in out] == ([date(2026, 3, 10)] if user == "utc" else [])
        out = send(windower, user, real_minutes(date(2026, 3, 11), "UTC"), sent, tz=tz)
        out = [e for e in out if e.trigger is Trigger.COMPLETE]  # not the partial first days
        assert [e.event.as_of for e in out] == [completed[user]]
        values, coverage = reference_week(sent, completed[user], tz)
        assert out[0].event.activity == values and out[0].event.coverage == coverage


def test_a_coarser_interval_gives_the_same_week_as_its_minutes_summed() -> None:
    windower, _ = make(min_coverage=0.0)
    day = date(2026, 3, 10)
    start = midnight(day, "UTC")
    hourly = ActivitySamples.model_validate(
        {
            "schema_version": 1,
            "user_id": "h",
            "start": start,
            "interval_s": 3_600,
            "values": [60.0 * (h % 5) for h in range(24)],
        }
    )
    out = windower.on_samples(hourly)
    activity = out[0].event.activity
    assert activity is not None and sum(activity) == sum(hourly.values)
    assert activity[6 * 1_440 + 60 : 6 * 1_440 + 120] == [1.0] * 60


def test_a_later_zone_is_counted_and_the_first_one_kept() -> None:
    windower, _ = make(min_coverage=0.0)
    minutes = real_minutes(date(2026, 3, 10), NY)
    send(windower, "z", minutes[:60], {}, tz=NY)
    send(windower, "z", minutes[60:], {}, tz="Europe/Paris")
    assert windower.counts["zone_changed"] == 1
    assert windower.counts["weeks_closed:complete"] == 1  # the NY day, whole


def test_a_cache_gives_the_same_weeks_and_flushes_what_changed() -> None:
    clock = FakeClock(start=datetime(2026, 3, 20, 12, 0, tzinfo=UTC))
    plain = Windower(WindowState(MemoryStore()), WindowsSettings(), clock)
    store = MemoryStore()
    state = WindowState(store, cache_bytes=1 << 20)
    cached = Windower(state, WindowsSettings(), clock)
    for day in days_from(date(2026, 3, 1), 7):
        minutes = real_minutes(day, NY)
        for hour in range(0, len(minutes), 60):
            a = send(plain, "c", minutes[hour : hour + 60], {}, tz=NY)
            b = send(cached, "c", minutes[hour : hour + 60], {}, tz=NY)
            assert a == b
    assert state.flush() == 8  # 7 days and the user's record, in one batch
    assert WindowState(store).meta("c") == state.meta("c")


def test_a_crash_before_a_flush_leaves_no_timer_that_fires_forever() -> None:
    clock = FakeClock(start=datetime(2026, 3, 20, 12, 0, tzinfo=UTC))
    state = WindowState(MemoryStore(), cache_bytes=1 << 20)
    windower = Windower(state, WindowsSettings(idle_close_s=60.0), clock)
    send(windower, "k", real_minutes(date(2026, 3, 19), "UTC")[:30], {})
    state.discard_unwritten()  # the record never reached the store; its timer did
    clock.advance(61)
    assert windower.on_timers() == [] and state.due(clock.now().timestamp()) == []


def test_features_for_a_day_after_tomorrow_are_refused() -> None:
    windower, _ = make()  # March 20 12:00 UTC
    with pytest.raises(InvalidEvent) as refused:
        windower.on_day_features(features_event("f", date(2026, 3, 23)))
    assert refused.value.reason == "future"
    assert windower.on_day_features(features_event("f", date(2026, 3, 22)))


def test_every_event_built_is_a_valid_feature_event() -> None:
    windower, _ = make(min_coverage=0.0)
    sent: Minutes = {}
    windower.on_day_features(features_event("v", date(2026, 3, 10)))
    out = send(windower, "v", real_minutes(date(2026, 3, 10), NY), sent, tz=NY)
    out += windower.on_day_features(features_event("w", date(2026, 3, 10)))
    assert {e.trigger for e in out} == {Trigger.COMPLETE, Trigger.FEATURES}
    for emission in out:
        raw = emission.event.model_dump_json(exclude_none=True)
        assert FeatureEvent.model_validate_json(raw) == emission.event
    with pytest.raises(ValueError, match="needs features, activity, or both"):
        build_event("v", date(2026, 3, 10), 0, None, None, datetime.now(UTC))


def test_a_thin_week_is_counted_and_its_features_stand_alone_until_it_fills() -> None:
    windower, _ = make()  # min_coverage 0.8
    day = date(2026, 3, 10)
    first = windower.on_day_features(features_event("t", day))
    assert [(e.revision, e.event.activity) for e in first] == [(0, None)]
    assert send(windower, "t", real_minutes(day, "UTC"), {}) == []  # closes at 1/7
    assert windower.counts["weeks_not_scored:low_coverage"] == 1
    sent: Minutes = {m: value_at(m) for m in real_minutes(day, "UTC")}
    revised = []
    for earlier in days_from(day - timedelta(days=6), 6):  # late days fill the week
        out = send(windower, "t", real_minutes(earlier, "UTC"), sent)
        revised += [e for e in out if e.event.as_of == day]
    assert [(e.revision, e.trigger) for e in revised] == [
        (1, Trigger.REVISION),  # 6 of 7 days: scored from here on
        (2, Trigger.REVISION),  # the last late day changes it again
    ]
    assert [e.event.coverage for e in revised] == [pytest.approx(6 / 7), 1.0]
    assert revised[-1].event.features == feature_values()
    assert revised[-1].event.activity == reference_week(sent, day, "UTC")[0]


def test_a_user_who_stopped_sending_is_cleared_by_the_wall_clock() -> None:
    clock = FakeClock(start=datetime(2026, 3, 20, 12, 0, tzinfo=UTC))
    state = WindowState(MemoryStore())
    settings = WindowsSettings(min_coverage=0.0, idle_close_s=3_600.0)
    windower = Windower(state, settings, clock)
    send(windower, "gone", real_minutes(date(2026, 3, 18), "UTC")[:60], {})
    clock.advance(3_600)
    assert [e.trigger for e in windower.on_timers()] == [Trigger.IDLE]
    assert state.meta("gone") is not None  # kept while a revision could still come
    clock.advance(14 * 86_400 + 93_600)  # past March 18 + 12 days + the lateness
    assert windower.on_timers() == []
    assert state.meta("gone") is None and state.day("gone", date(2026, 3, 18)) is None
    assert state.due(clock.now().timestamp() + 10 * 86_400) == []


def test_samples_without_a_zone_use_the_default_zone() -> None:
    windower, _ = make(min_coverage=0.0, default_tz="Asia/Kolkata")
    out = send(windower, "d", real_minutes(date(2026, 3, 10), "Asia/Kolkata"), {})
    assert [(e.event.as_of, e.trigger) for e in out] == [(date(2026, 3, 10), Trigger.COMPLETE)]


def test_a_digest_an_earlier_version_saved_still_says_nothing_changed() -> None:
    """User records written before the SHA-1 digests hold 32 hex digits of BLAKE2b of the
    same bytes: the same features and week again send nothing, other ones a revision."""
    windower, _ = make(min_coverage=0.0)
    day = date(2026, 3, 10)
    send(windower, "u9", real_minutes(day, "UTC"), {})
    joined = windower.on_day_features(features_event("u9", day))
    assert [(e.revision, e.trigger) for e in joined] == [(1, Trigger.FEATURES)]
    week = joined[0].says.week
    assert week is not None
    old = hashlib.blake2b(digest_size=16)
    old.update(orjson.dumps(joined[0].says.features, option=orjson.OPT_SORT_KEYS))
    old.update(week.values.tobytes())
    old.update(week.present.to_bytes(4, "little"))
    state = windower._state
    meta = state.meta("u9")
    assert meta is not None and meta.days[day].digest.startswith("3:")
    meta.days[day].digest = old.hexdigest()  # as an earlier version saved it
    state.put_meta("u9", meta)
    assert windower.on_day_features(features_event("u9", day)) == []  # nothing new
    sha1 = hashlib.sha1(usedforsecurity=False)  # what the next version saved: "2:"
    sha1.update(orjson.dumps(joined[0].says.features, option=orjson.OPT_SORT_KEYS))
    sha1.update(week.values.tobytes())
    sha1.update(week.present.to_bytes(4, "little"))
    meta.days[day].digest = "2:" + sha1.hexdigest()[:32]
    state.put_meta("u9", meta)
    assert windower.on_day_features(features_event("u9", day)) == []  # nothing new
    meta.days[day].digest = "2:" + "0" * 32  # another one: something changed
    assert said_before(meta.days[day].digest, joined[0].says.features, week) is False
    meta.days[day].digest = "0" * 32  # another earlier digest: something changed
    state.put_meta("u9", meta)
    again = windower.on_day_features(features_event("u9", day))
    assert [(e.revision, e.trigger) for e in again] == [(2, Trigger.FEATURES)]
    saved = state.meta("u9")
    assert saved is not None and saved.days[day].digest == digest(joined[0].says.features, week)
    assert not said_before(digest(None, week), None, week)


class CountingStore(MemoryStore):
    """A ``MemoryStore`` counting its reads of day features (keys ``f...``)."""

    def __init__(self) -> None:
        super().__init__()
        self.feature_reads = 0

    def get(self, key: bytes) -> bytes | None:
        self.feature_reads += key.startswith(b"f")
        return super().get(key)


def test_a_day_that_never_sent_a_revision_closes_without_reading_features() -> None:
    """Features go out at once (revision 0), so a day with none sent has none stored: a
    backfill's closes read none; a day that sent one reads them for its next revision."""
    store = CountingStore()
    clock = FakeClock(start=datetime(2026, 3, 20, 12, 0, tzinfo=UTC))
    windower = Windower(WindowState(store), WindowsSettings(), clock)
    first = date(2026, 3, 1)
    out = [
        e for day in days_from(first, 5) for e in send(windower, "u", real_minutes(day, "UTC"), {})
    ]
    assert out == [] and store.feature_reads == 0  # five closes, none covered, no read
    windower.on_day_features(features_event("u", first + timedelta(days=5)))
    assert store.feature_reads == 1  # the day being sent (and stored) reads its own
    [joined] = send(windower, "u", real_minutes(first + timedelta(days=5), "UTC"), {})
    assert (joined.revision, joined.event.features) == (1, feature_values())
    assert store.feature_reads == 2


def test_features_of_a_day_due_by_lateness_go_out_with_its_week_at_once() -> None:
    """Day features for a day without samples, past the lateness: the day closes as they
    arrive, and revision 0 carries both (not the week alone, then both)."""
    windower, _ = make(min_coverage=0.0)
    day = date(2026, 3, 10)
    sent: Minutes = {}
    send(windower, "u", real_minutes(day + timedelta(days=1), "UTC"), sent)
    send(windower, "u", real_minutes(day + timedelta(days=3), "UTC")[:60], sent)
    out = windower.on_day_features(features_event("u", day))
    assert [(e.revision, e.trigger) for e in out] == [(0, Trigger.LATENESS)]
    assert out[0].event.features == feature_values()
    assert out[0].event.activity == reference_week(sent, day, "UTC")[0]


def test_day_records_read_as_counts_store_and_send_what_the_floats_alone_give() -> None:
    """A day-sized record whose counts the reader knows (``MinuteRecord.counts``) takes
    ``DayMinutes.whole_day``: the store's bytes and every event are those of the same
    records without the counts (the merge of floats), in zones with and without a clock
    change, for new days, re-sent days and records that span two days."""
    rng = np.random.default_rng(31)
    records = []
    for user, tz in (("u-utc", "UTC"), ("u-ny", "America/New_York"), ("u-in", "Asia/Kolkata")):
        for day in (date(2026, 3, 1) + timedelta(days=i) for i in range(11)):
            values = rng.integers(0, 90, 1_440) * (rng.random(1_440) < rng.random())
            if day.day == 4:
                values[9] = 70_000  # not uint16: no counts
            records.append((user, midnight(day, tz), values.tolist(), tz))
        records.append((user, midnight(date(2026, 3, 9), tz), [5] * 1_440, tz))  # re-sent
        records.append((user, midnight(date(2026, 3, 11), tz), [1, 2, 3], tz))  # a part
    clock = FakeClock(start=datetime(2026, 3, 13, 12, 0, tzinfo=UTC))
    states = [WindowState(MemoryStore(), cache_bytes=1 << 20) for _ in range(2)]
    windowers = [Windower(state, WindowsSettings(), clock) for state in states]
    with_counts = 0
    for user, start, values, tz in records:
        raw = orjson.dumps(
            {
                "schema_version": 1,
                "user_id": user,
                "start": start.isoformat(),
                "interval_s": 60,
                "values": values,
                "tz": tz,
            }
        )
        got = decode_minutes(raw, max_bytes=1 << 20, strict_fields=False)
        read = got if isinstance(got, MinuteRecord) else MinuteRecord.of(got)  # a short one
        with_counts += read.counts is not None
        pair = (read, read._replace(counts=None))
        sent = [w.on_samples(r) for w, r in zip(windowers, pair, strict=True)]
        assert [(e.trigger, e.says.json()) for e in sent[0]] == [
            (e.trigger, e.says.json()) for e in sent[1]
        ]
    assert with_counts == 3 * 11  # all but the 70,000 days and the short records
    for state in states:
        state.flush()
    assert list(states[0].store.scan(b"")) == list(states[1].store.scan(b""))
    assert windowers[0].counts == windowers[1].counts
    assert windowers[0].counts["events_out:complete"] >= 3 * 4
