"""The windows stage against the real broker: minute samples and day features in, complete
FeatureEvents out, each week equal to a reference built here from the generator's own
minutes (``SyntheticSamples.truth``), independently of the stage's code.

20 users x 9 local days (three zones, New York crossing its 2026-03-08 DST change), hourly
and daily chunks shuffled within 25 h (the lateness is 26 h), 5 % duplicated chunks,
conflicting re-sends at the end, 3 % missing minutes, sparse users whose weeks fall below
the coverage floor, day features on the other topic, and a few bad records. The stage
runs in-process (its loop on a thread, the real clients); a restart test stops it
mid-stream and starts a fresh one that restores its state from the changelog.

At-least-once: a restart may send a revision again with the same ``event_id``; the restart
test dedupes by ``event_id`` before counting (the documented duplicates), the plain run
asserts there are none at all.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from prometheus_client import CollectorRegistry

from consumer.clock import SystemClock
from consumer.kafka.admin import create_topics, delete_topics, wait_for_topics
from consumer.producer.synthetic_samples import SamplesPlan, SyntheticSamples
from consumer.settings import (
    Guarantee,
    ProcessingSettings,
    Settings,
    TopicSettings,
    WindowsSettings,
)
from consumer.windows_stage.metrics import WindowsMetrics
from consumer.windows_stage.runner import WindowsRunner
from consumer.windows_stage.wiring import build_windows_runner, windows_settings
from tests.conftest import settings_for
from tests.integration.harness import (
    TopicReader,
    committed_total,
    produce_raw,
    running_service,
    service_env,
    wait_for,
)

pytestmark = pytest.mark.integration

PARTITIONS = 3
LATENESS_S = 26 * 3_600
IDLE_S = 3_600
WEEK = 10_080
BAD = [
    (
        b"u-bad",
        b'{"schema_version":1,"user_id":"u-bad","start":"2026-03-04T00:00:00Z",'
        b'"interval_s":90,"values":[1]}',
    ),
    (
        b"u-bad",
        b'{"schema_version":1,"user_id":"u-bad","start":"2026-03-04T00:00:00Z",'
        b'"interval_s":60,"values":[1],"tz":"Mars/Olympus"}',
    ),
    (b"u-bad", b"not json"),
]


@pytest.fixture
def windows_topics(kafka_bootstrap: str) -> Iterator[TopicSettings]:
    suffix = uuid.uuid4().hex[:12]
    topics = TopicSettings(
        features=f"w.features.{suffix}",
        predictions=f"w.predictions.{suffix}",
        alerts=f"w.alerts.{suffix}",
        dlq=f"w.dlq.{suffix}",
        overflow=f"w.overflow.{suffix}",
        activity=f"w.activity.{suffix}",
        day_features=f"w.day-features.{suffix}",
        windows_changelog=f"w.changelog.{suffix}",
        partitions=PARTITIONS,
    )
    names = list(topics.every())
    admin = {"bootstrap.servers": kafka_bootstrap}
    create_topics(admin, names, PARTITIONS, replication=1)
    wait_for_topics(admin, names, 30)
    yield topics
    delete_topics(admin, names)


class ShiftedClock:
    """The system clock, its wall time moved forward by ``shift_s`` (to let the idle
    timers of users who stopped sending fire now); monotonic time untouched."""

    def __init__(self) -> None:
        self.shift_s = 0.0
        self._real = SystemClock()

    def monotonic(self) -> float:
        return self._real.monotonic()

    def now(self) -> datetime:
        return self._real.now() + timedelta(seconds=self.shift_s)


@dataclass
class Stage:
    """A windows runner on a thread until stopped."""

    runner: WindowsRunner
    registry: CollectorRegistry
    clock: ShiftedClock

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            self.runner.run(self._stop.is_set)
        except BaseException as exc:  # reported by stop()
            self.error = exc

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(60)
        assert not self._thread.is_alive(), "the windows loop did not stop"
        assert self.error is None, repr(self.error)

    def value(self, name: str, **labels: str) -> float:
        return self.registry.get_sample_value(name, labels or None) or 0.0


def _start(settings: Settings, index: int = 0) -> Stage:
    registry, clock = CollectorRegistry(), ShiftedClock()
    runner = build_windows_runner(
        settings,
        bootstrap=settings.kafka.bootstrap_servers,
        worker_index=index,
        clock=clock,
        metrics=WindowsMetrics(registry),
    )
    return Stage(runner, registry, clock)


def _close_idle_users(stage: Stage, gen: SyntheticSamples, dropped_before: float = 0) -> None:
    """Move the stage's wall clock past the idle timeout: every user's open days close
        (trigger ``idle``) and, the wall clock being far past March 2026, every day leaves the
        retention (tombstones). Waits until every user-day is dropped (``dropped_before``: by an
    earlier stage)."""
    stage.clock.shift_s = IDLE_S + 60
    user_days = len(gen.truth) * gen.plan.days  # every user has features for every day
    wait_for(
        lambda: stage.value("moodstream_windows_days_dropped_total") + dropped_before == user_days,
        60,
        "every user-day closed and dropped",
    )


def _settings(
    bootstrap: str, topics: TopicSettings, tmp: Path, guarantee: Guarantee = Guarantee.AT_LEAST_ONCE
) -> Settings:
    group = f"moodstream-test-{uuid.uuid4().hex[:12]}"
    windows = WindowsSettings(
        allowed_lateness_s=LATENESS_S, idle_close_s=IDLE_S, state_dir=tmp / "state"
    )
    processing = ProcessingSettings(guarantee=guarantee)
    base = settings_for(bootstrap, topics, group, windows=windows, processing=processing)
    return windows_settings(base)


def _send(
    settings: Settings, gen: SyntheticSamples, stage: Stage, held_back: int = 0
) -> tuple[int, int]:
    """The day features first (committed by the stage before any sample is sent: across
    two topics a consumer's order is not defined, and features that arrive after their
    day left the retention are refused as ``too_old``), then the samples but the last
    ``held_back`` (sent by ``_send_rest``). Returns the counts once everything is sent."""
    topics, bootstrap = settings.topics, settings.kafka.bootstrap_servers
    produce_raw(bootstrap, topics.day_features, gen.day_features)
    _wait_committed(settings, (0, len(gen.day_features)), stage)
    samples = _samples(gen)
    produce_raw(bootstrap, topics.activity, samples[: len(samples) - held_back])
    return len(samples), len(gen.day_features)


def _samples(gen: SyntheticSamples) -> list[tuple[bytes | None, bytes | None]]:
    records: list[tuple[bytes | None, bytes | None]] = [(r.key, r.value) for r in gen.samples]
    return records + BAD


def _send_rest(settings: Settings, gen: SyntheticSamples, held_back: int) -> None:
    samples = _samples(gen)
    produce_raw(settings.kafka.bootstrap_servers, settings.topics.activity, samples[-held_back:])


def _wait_committed(settings: Settings, counts: tuple[int, int], stage: Stage) -> None:
    topics, group = settings.topics, settings.kafka.group_id
    bootstrap = settings.kafka.bootstrap_servers

    seen: list[tuple[int, int]] = []

    def done() -> bool:
        assert stage.error is None, repr(stage.error)
        seen[:] = [
            (
                committed_total(bootstrap, topics.activity, group, PARTITIONS),
                committed_total(bootstrap, topics.day_features, group, PARTITIONS),
            )
        ]
        return seen[0] == counts

    try:
        wait_for(done, 90, "every input committed")
    except AssertionError as exc:
        raise AssertionError(f"{exc}: committed {seen}, sent {counts}") from None


def _read_all(bootstrap: str, topic: str) -> list[tuple[dict[str, Any], int]]:
    """Every record of ``topic`` (the stage has committed all its inputs, so all are
    acknowledged): (event, revision header)."""
    reader = TopicReader(bootstrap, topic)
    try:
        seen = -1
        while len(reader.records) != seen:
            seen = len(reader.records)
            reader.poll(1.5)
        return [(json.loads(m.value()), int(dict(m.headers())["revision"])) for m in reader.records]
    finally:
        reader.close()


def _day_slots(day: date, tz: str) -> list[tuple[int, int]]:
    """(real minute, wall-clock slot) of each real minute of local ``day``."""
    zone = ZoneInfo(tz)
    nxt = day + timedelta(days=1)
    first = int(datetime(day.year, day.month, day.day, tzinfo=zone).timestamp()) // 60
    last = int(datetime(nxt.year, nxt.month, nxt.day, tzinfo=zone).timestamp()) // 60
    out = []
    for minute in range(first, last):
        local = datetime.fromtimestamp(minute * 60, zone)
        out.append((minute, local.hour * 60 + local.minute))
    return out


class Reference:
    """Weeks from the generator's minutes, computed here: each real minute in the slot of
    its local wall-clock time (summed where a clock goes back), a skipped hour present."""

    def __init__(self, gen: SyntheticSamples) -> None:
        self.gen = gen
        self._slots: dict[tuple[date, str], list[tuple[int, int]]] = {}

    def week(self, user: str, last: date) -> tuple[list[float], int]:
        tz, truth = self.gen.zone_of[user], self.gen.truth[user]
        values, present = [0.0] * WEEK, [False] * WEEK
        for i in range(7):
            day = last - timedelta(days=6 - i)
            key = (day, tz)
            if key not in self._slots:
                self._slots[key] = _day_slots(day, tz)
            slots = self._slots[key]
            for minute, slot in slots:
                if minute in truth:
                    values[i * 1440 + slot] += truth[minute]
                    present[i * 1440 + slot] = True
            for slot in set(range(1440)) - {s for _, s in slots}:
                present[i * 1440 + slot] = True
        return values, sum(present)

    def days(self, user: str, idle_closed: bool) -> list[date]:
        """The days whose week closed: every one when the idle timer closed the tail,
        else those the user's stream passed by the lateness."""
        plan = self.gen.plan
        days = [plan.first_day + timedelta(days=d) for d in range(plan.days)]
        if idle_closed:
            return days
        end, tz = max(self.gen.truth[user]) + 1, self.gen.zone_of[user]
        return [d for d in days if _day_slots(d, tz)[-1][0] + 1 + LATENESS_S // 60 <= end]


def _check_weeks(
    gen: SyntheticSamples, events: list[tuple[dict[str, Any], int]], idle_closed: bool = True
) -> Counter[str]:
    """Every revision once; each user-day's last revision equal to the reference; weeks
    below the coverage floor never sent as activity. Returns what was found, by kind."""
    ref = Reference(gen)
    revisions: dict[tuple[str, str], list[int]] = defaultdict(list)
    last: dict[tuple[str, str], tuple[int, dict[str, Any]]] = {}
    for event, revision in events:
        key = (event["user_id"], event["as_of"])
        revisions[key].append(revision)
        if key not in last or revision > last[key][0]:
            last[key] = (revision, event)
    found: Counter[str] = Counter()
    for key, seen in revisions.items():
        assert sorted(seen) == list(range(len(seen))), f"{key}: revisions {sorted(seen)}"
    features_of = {
        (e["user_id"], e["as_of"]): e["features"]
        for e in (json.loads(v) for _, v in gen.day_features)
    }
    for user in gen.truth:
        for day in ref.days(user, idle_closed):
            values, present = ref.week(user, day)
            key = (user, day.isoformat())
            event = last[key][1] if key in last else {}
            assert event.get("features") == features_of[key], key
            if present / WEEK < 0.8:
                assert not any(
                    e.get("activity") for e, _ in events if (e["user_id"], e["as_of"]) == key
                )
                spanned = day >= gen.plan.first_day + timedelta(days=6)
                found["sparse_below_coverage" if spanned else "early_below_coverage"] += 1
                continue
            assert event.get("activity") == values, f"{key}: week differs from the reference"
            assert event["coverage"] == pytest.approx(present / WEEK)
            found["weeks"] += 1
    return found


@pytest.fixture
def generated() -> SyntheticSamples:
    return SyntheticSamples(26, SamplesPlan(users=20, days=9))


def test_weeks_equal_the_reference_and_each_revision_goes_out_once(
    kafka_bootstrap: str, windows_topics: TopicSettings, tmp_path: Path, generated: SyntheticSamples
) -> None:
    settings = _settings(kafka_bootstrap, windows_topics, tmp_path)
    stage = _start(settings)
    try:
        counts = _send(settings, generated, stage)
        _wait_committed(settings, counts, stage)
        _close_idle_users(stage, generated)
    finally:
        stage.stop()
    events = _read_all(kafka_bootstrap, windows_topics.features)
    ids = Counter(e["event_id"] for e, _ in events)
    assert max(ids.values()) == 1, "a revision went out twice without a restart"
    found = _check_weeks(generated, events)
    # weeks ending days 7-9 of 9 are whole; earlier ones hold days before the data began
    assert found["weeks"] >= 45 and found["sparse_below_coverage"] >= 2, found
    assert stage.value("moodstream_windows_weeks_not_scored_total", reason="low_coverage") >= 2
    assert stage.value("moodstream_windows_weeks_closed_total", trigger="idle") >= 40
    assert stage.value("moodstream_windows_dead_letters_total") == len(BAD)
    assert stage.value("moodstream_windows_samples_total") == counts[0] - len(BAD)
    reader = TopicReader(kafka_bootstrap, windows_topics.dlq)
    try:
        reader.wait_count(len(BAD), 30)
        classes = sorted(
            v.decode() for m in reader.records for k, v in m.headers() if k == "error.class"
        )
    finally:
        reader.close()
    assert classes == [
        "InvalidEvent.invalid_json",
        "InvalidEvent.unknown_time_zone",
        "InvalidEvent.wrong_interval",
    ]


@pytest.mark.parametrize("guarantee", list(Guarantee))
def test_a_stage_stopped_mid_stream_restores_its_state_from_the_changelog(
    kafka_bootstrap: str,
    windows_topics: TopicSettings,
    tmp_path: Path,
    generated: SyntheticSamples,
    guarantee: Guarantee,
) -> None:
    """The first stage stops after about a third of the samples (the last third is sent only
    after it stopped); the second wipes its
    local stores, restores them from the changelog and goes on. Every revision once and
    every week equal to the reference: under exactly-once as read (read_committed), under
    at-least-once after dedupe by ``event_id`` (it may resend what was not committed)."""
    settings = _settings(kafka_bootstrap, windows_topics, tmp_path, guarantee)
    topics, group = settings.topics, settings.kafka.group_id
    held_back = len(_samples(generated)) // 3  # the second stage always has work left
    first = _start(settings)
    try:
        counts = _send(settings, generated, first, held_back)
        wait_for(
            lambda: (
                committed_total(kafka_bootstrap, topics.activity, group, PARTITIONS)
                >= counts[0] // 3
            ),
            90,
            "a third of the samples committed",
        )
    finally:
        first.stop()
    _send_rest(settings, generated, held_back)
    second = _start(settings)
    try:
        _wait_committed(settings, counts, second)
        _close_idle_users(second, generated, first.value("moodstream_windows_days_dropped_total"))
    finally:
        second.stop()
    assert second.value("moodstream_windows_restore_seconds_count") == PARTITIONS
    restored = sum(
        second.value("moodstream_windows_restore_offsets_total", partition=str(p))
        for p in range(PARTITIONS)
    )
    assert restored > 0, "nothing was restored from the changelog"
    events = _read_all(kafka_bootstrap, windows_topics.features)
    if guarantee is Guarantee.EXACTLY_ONCE:
        assert max(Counter(e["event_id"] for e, _ in events).values()) == 1
    unique = list({e["event_id"]: (e, r) for e, r in events}.values())
    found = _check_weeks(generated, unique)
    assert found["weeks"] >= 45 and found["sparse_below_coverage"] >= 2, found


def test_produce_samples_sends_the_generators_records_to_both_topics(
    kafka_bootstrap: str, windows_topics: TopicSettings
) -> None:
    """``moodstream produce --samples``: the day features and the samples of
    ``SyntheticSamples`` with the same seed, each to its topic, keyed by user."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MOODSTREAM_")}
    env |= windows_topics.as_env() | {"MOODSTREAM_KAFKA__BOOTSTRAP_SERVERS": kafka_bootstrap}
    command = [sys.executable, "-m", "consumer", "produce", "--samples", "--json"]
    args = ["--users", "3", "--days", "2", "--seed", "5"]
    done = subprocess.run(command + args, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    expected = SyntheticSamples(5, SamplesPlan(users=3, days=2))
    summary = json.loads(done.stdout)
    total = len(expected.samples) + len(expected.day_features)
    assert (summary["sent"], summary["acknowledged"]) == (total, total)
    for topic, records in (
        (windows_topics.activity, [(r.key, r.value) for r in expected.samples]),
        (windows_topics.day_features, expected.day_features),
    ):
        reader = TopicReader(kafka_bootstrap, topic)
        try:
            reader.wait_count(len(records), 30)
            assert sorted((m.key(), m.value()) for m in reader.records) == sorted(records)
        finally:
            reader.close()


def test_run_stage_windows_serves_health_and_metrics_and_stops_cleanly(
    kafka_bootstrap: str, windows_topics: TopicSettings, tmp_path: Path
) -> None:
    """``moodstream run --stage windows``: the supervisor, a worker, /readyz and the
    windows metrics; a complete UTC day goes out as its week; SIGTERM exits 0."""
    group = f"moodstream-test-{uuid.uuid4().hex[:12]}"
    env = service_env(
        kafka_bootstrap,
        windows_topics,
        group,
        WINDOWS__STATE_DIR=tmp_path / "state",
        WINDOWS__MIN_COVERAGE="0",
    )
    day = b'{"schema_version":1,"user_id":"u-cli","start":"2026-03-10T00:00:00Z",'
    day += b'"interval_s":60,"values":[' + b",".join([b"3"] * 1440) + b'],"tz":"UTC"}'
    with running_service(env, tmp_path, "--stage", "windows") as service:
        service.wait_ready()
        produce_raw(kafka_bootstrap, windows_topics.activity, [(b"u-cli", day)])
        reader = TopicReader(kafka_bootstrap, windows_topics.features)
        try:
            reader.wait_count(1, 60)
            [event] = reader.values()
        finally:
            reader.close()
        assert event["user_id"] == "u-cli" and event["as_of"] == "2026-03-10"
        assert event["activity"][-1] == 3.0 and event["coverage"] == pytest.approx(1 / 7)
        wait_for(
            lambda: "moodstream_windows_samples_total 1.0" in service.get("/metrics")[1],
            30,
            "the samples metric",
        )
        assert service.stop() == 0, service.logs()
    # its own group, which committed the record
    assert committed_total(kafka_bootstrap, windows_topics.activity, f"{group}-windows", 3) == 1


def test_run_stage_windows_refuses_inputs_partitioned_differently(
    kafka_bootstrap: str, windows_topics: TopicSettings, tmp_path: Path
) -> None:
    topics = windows_topics.model_copy(update={"day_features": windows_topics.dlq + ".odd"})
    admin = {"bootstrap.servers": kafka_bootstrap}
    create_topics(admin, [topics.day_features], PARTITIONS + 1, replication=1)
    try:
        wait_for_topics(admin, [topics.day_features], 30)
        env = service_env(kafka_bootstrap, topics, f"moodstream-test-{uuid.uuid4().hex[:12]}")
        command = [sys.executable, "-m", "consumer", "run", "--stage", "windows"]
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    finally:
        delete_topics(admin, [topics.day_features])
    assert done.returncode != 0
    assert "must have the same partition count" in done.stdout + done.stderr


def test_exactly_once_across_a_rebalance_from_one_worker_to_two_and_back(
    kafka_bootstrap: str, windows_topics: TopicSettings, tmp_path: Path, generated: SyntheticSamples
) -> None:
    """A second worker joins after a third of the samples and leaves after two thirds:
    each rebalance hands whole partition numbers of both inputs to one worker (range),
    which restores their stores from the changelog. Under read_committed: no event twice,
    every week equal to the reference."""
    settings = _settings(kafka_bootstrap, windows_topics, tmp_path, Guarantee.EXACTLY_ONCE)
    topics, bootstrap = settings.topics, kafka_bootstrap
    samples = [(r.key, r.value) for r in generated.samples]
    thirds = [samples[: len(samples) // 3], samples[len(samples) // 3 : 2 * len(samples) // 3]]
    thirds.append(samples[2 * len(samples) // 3 :])
    partitions, dropped = "moodstream_windows_partitions", "moodstream_windows_days_dropped_total"
    features = len(generated.day_features)
    first = _start(settings)
    try:
        produce_raw(bootstrap, topics.day_features, generated.day_features)
        _wait_committed(settings, (0, features), first)
        produce_raw(bootstrap, topics.activity, thirds[0])
        _wait_committed(settings, (len(thirds[0]), features), first)
        second = _start(settings, index=1)
        try:
            wait_for(
                lambda: first.value(partitions) > 0 and second.value(partitions) > 0,
                60,
                "both workers hold partitions",
            )
            produce_raw(bootstrap, topics.activity, thirds[1])
            _wait_committed(settings, (len(thirds[0]) + len(thirds[1]), features), first)
        finally:
            second.stop()
        wait_for(lambda: first.value(partitions) == PARTITIONS, 60, "the first holds all")
        produce_raw(bootstrap, topics.activity, thirds[2])
        _wait_committed(settings, (len(samples), features), first)
        _close_idle_users(first, generated, second.value(dropped))
    finally:
        first.stop()
    events = _read_all(bootstrap, windows_topics.features)
    assert max(Counter(e["event_id"] for e, _ in events).values()) == 1
    found = _check_weeks(generated, events)
    assert found["weeks"] >= 45 and found["sparse_below_coverage"] >= 2, found


def _workers(supervisor: int) -> list[int]:
    """The pids of ``supervisor``'s children (its workers), from /proc."""
    children = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == supervisor:
            children.append(int(stat.parent.name))
    return children


def test_exactly_once_survives_a_sigkill_of_the_windows_worker(
    kafka_bootstrap: str, windows_topics: TopicSettings, tmp_path: Path, generated: SyntheticSamples
) -> None:
    """``run --stage windows`` in exactly-once mode; its worker is SIGKILLed once half the
    samples are committed, as the other half is sent; the supervisor restarts it, it
    restores its state from the changelog and goes on: no event twice under
    read_committed, every week the lateness closed equal to the reference."""
    group = f"moodstream-test-{uuid.uuid4().hex[:12]}"
    env = service_env(
        kafka_bootstrap,
        windows_topics,
        group,
        WINDOWS__STATE_DIR=tmp_path / "state",
        WINDOWS__ALLOWED_LATENESS_S=LATENESS_S,
        PROCESSING__GUARANTEE="exactly_once",
    )
    samples = [(r.key, r.value) for r in generated.samples]
    windows_group = f"{group}-windows"
    with running_service(env, tmp_path, "--stage", "windows") as service:
        service.wait_ready()
        produce_raw(kafka_bootstrap, windows_topics.day_features, generated.day_features)
        half = len(samples) // 2

        def committed(count: int, topic: str = windows_topics.activity) -> Callable[[], bool]:
            return lambda: committed_total(kafka_bootstrap, topic, windows_group, 3) == count

        features = committed(len(generated.day_features), windows_topics.day_features)
        wait_for(features, 90, "the day features committed", alive=service.process)
        produce_raw(kafka_bootstrap, windows_topics.activity, samples[:half])
        wait_for(committed(half), 90, "the first half committed", alive=service.process)
        [worker] = _workers(service.process.pid)
        produce_raw(kafka_bootstrap, windows_topics.activity, samples[half:])
        os.kill(worker, signal.SIGKILL)  # mid-stream: the second half is on its way
        wait_for(
            lambda: _workers(service.process.pid) not in ([], [worker]),
            60,
            "the supervisor restarted the worker",
            alive=service.process,
        )
        wait_for(committed(len(samples)), 120, "every sample committed", alive=service.process)
    events = _read_all(kafka_bootstrap, windows_topics.features)
    assert max(Counter(e["event_id"] for e, _ in events).values()) == 1
    found = _check_weeks(generated, events, idle_closed=False)
    assert found["weeks"] >= 20, found
