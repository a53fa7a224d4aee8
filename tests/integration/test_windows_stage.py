"""The windows stage against the real broker: minute samples and day features in, complete
FeatureEvents out, each week equal to a reference built here from the generator's own
minutes (``SyntheticSamples.truth``: ``windows_reference``), independently of the stage's
code.

Issue 26's scale: 200 users x 9 local days (three zones, New York crossing its
2026-03-08 DST change), hourly and daily chunks shuffled within 25 h (the lateness is
26 h), 5 % duplicated chunks, 1 % conflicting re-sends (revising weeks that closed as
complete), 3 % missing minutes (40 % of the days whole), sparse users whose weeks
fall below the coverage floor, day features on the other topic; the first test measures
each of these on the records themselves. Generated once for the module.

- at-least-once, one stage whose store cannot hold its data in memory (a decoded cache
  of 16 user-days per partition for ~600, RocksDB's memory at its floor): every revision
  once, every week equal to the reference, weeks below the floor counted and never sent
  with activity, PAT scores of the stage's weeks equal to the reference weeks scored
  directly (``windows_scoring``);
- exactly-once through a rebalance from one worker to two and back with a SIGKILL of
  the second's worker mid-stream: under read_committed no event twice, no week lost,
  every week equal to the reference;
- a smaller stream (20 users) for a stage stopped mid-stream and restored from the
  changelog under at-least-once (its documented duplicates deduped by ``event_id``).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from consumer.kafka.admin import create_topics, delete_topics, wait_for_topics
from consumer.producer.synthetic_samples import SamplesPlan, SyntheticSamples
from consumer.settings import Guarantee, Settings, TopicSettings
from consumer.windows.daystate import DayMinutes
from tests.integration.harness import (
    Service,
    TopicReader,
    committed_total,
    produce_raw,
    running_service,
    service_env,
    wait_for,
)
from tests.integration.windows_properties import measure
from tests.integration.windows_reference import Reference, check_weeks, read_sent
from tests.integration.windows_scoring import check_pat
from tests.integration.windows_tools import (
    IDLE_S,
    LATENESS_S,
    PARTITIONS,
    Records,
    Stage,
    metric,
    read_all,
    samples_of,
    stage_settings,
    start_stage,
    wait_committed,
    wait_weeks,
    workers,
)

pytestmark = pytest.mark.integration

USERS, DAYS = 200, 9
MIB = 1 << 20
#: ``WINDOWS__CACHE_MB`` holding about 16 decoded days of 1,440 minutes
CACHE_MB_16_DAYS = 16 * DayMinutes.empty(1_440).footprint / MIB
#: ``WINDOWS__STORE_CACHE_MB`` at its floor: the worker's whole RocksDB memory
STORE_MB = 2
BAD: Records = [
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
PARTS, DROPPED = "moodstream_windows_partitions", "moodstream_windows_days_dropped_total"


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


@pytest.fixture(scope="module")
def generated() -> SyntheticSamples:
    return SyntheticSamples(26, SamplesPlan(users=USERS, days=DAYS))


@pytest.fixture(scope="module")
def reference(generated: SyntheticSamples) -> Reference:
    return Reference(generated)


def _send_features(settings: Settings, gen: SyntheticSamples, stage: Stage) -> None:
    """The day features, committed by the stage before any sample is sent (across two
    topics a consumer's order is not defined, and features that arrive after their day
    left the retention are refused as ``too_old``)."""
    produce_raw(settings.kafka.bootstrap_servers, settings.topics.day_features, gen.day_features)
    wait_committed(settings, (0, len(gen.day_features)), stage)


def _close_idle_users(stage: Stage, gen: SyntheticSamples, dropped_before: float = 0) -> None:
    """Move the stage's wall clock past the idle timeout: every user's open days close
    (trigger ``idle``) and, the wall clock being far past March 2026, every day leaves the
    retention (tombstones). Waits until every user-day is dropped (``dropped_before``: by
    an earlier stage)."""
    stage.clock.shift_s = IDLE_S + 60
    user_days = len(gen.truth) * gen.plan.days  # every user has features for every day
    wait_for(
        lambda: stage.value(DROPPED) + dropped_before == user_days,
        120,
        "every user-day closed and dropped",
    )


def test_the_stream_has_every_property_the_issue_names(
    generated: SyntheticSamples, reference: Reference
) -> None:
    """Measured on the records in sending order, not taken from the plan."""
    found = measure(generated, reference)
    assert found["hourly_days"] >= 0.3 and found["daily_days"] >= 0.3, found
    assert 60 < found["late_minutes"] < LATENESS_S // 60, found  # shuffled within 26 h
    assert found["late_over_an_hour"] >= 0.1, found
    assert 0.04 <= found["duplicated"] <= 0.06, found
    assert 0.006 <= found["conflicting"] <= 0.014 and found["resent_last"], found
    assert 0.02 <= found["missing"] <= 0.04 and found["whole_days"] >= 0.15, found
    assert found["zones"] >= 3 and 1_380 in found["new_york_day_lengths"], found
    assert found["features_per_user_day"] == {1} and found["user_days"] == USERS * DAYS


def test_weeks_equal_the_reference_with_a_store_far_smaller_than_its_data(
    kafka_bootstrap: str,
    windows_topics: TopicSettings,
    tmp_path: Path,
    generated: SyntheticSamples,
    reference: Reference,
) -> None:
    """One stage, at-least-once, its store's memory at its floor: the decoded write-back
    cache at about 16 user-days per partition (``WINDOWS__CACHE_MB``) for ~600 (so nearly
    every record reads its day back from RocksDB and evicts another), the worker's whole
    RocksDB memory at the settings' floor, 2 MiB with 1 MiB of write buffers (its SST
    files, ~4 MB, outgrow it). Every revision once (no restart, no duplicate), every closed week
    equal to the reference, each below the floor counted and never sent with activity,
    PAT scores equal to the reference weeks scored directly."""
    settings = stage_settings(
        kafka_bootstrap,
        windows_topics,
        tmp_path,
        cache_mb=CACHE_MB_16_DAYS,
        store_cache_mb=STORE_MB,
        store_write_buffer_mb=1,
    )
    samples = samples_of(generated) + BAD
    stage = start_stage(settings)
    try:
        _send_features(settings, generated, stage)
        produce_raw(kafka_bootstrap, windows_topics.activity, samples)
        wait_committed(settings, (len(samples), len(generated.day_features)), stage)
        # the SST files alone outgrow the worker's whole RocksDB memory
        stored = "moodstream_windows_store_bytes"
        try:
            wait_for(lambda: stage.value(stored) > STORE_MB * MIB, 30, "the store")
        except AssertionError:
            raise AssertionError(f"{stage.value(stored)} bytes on disk") from None
        _close_idle_users(stage, generated)
    finally:
        stage.stop()
    sent = read_sent(read_all(kafka_bootstrap, windows_topics.features))
    assert max(Counter(s.event["event_id"] for s in sent).values()) == 1
    found = check_weeks(generated, reference, sent)
    below = USERS * DAYS - found["weeks"]
    assert found["weeks"] == len(reference.scored()) >= USERS * 3, found
    assert found["sparse_below_coverage"] >= 10 and found["revised"] >= 5, found
    assert stage.total("moodstream_windows_weeks_closed_total") == USERS * DAYS
    # each user's last two days are closed by the idle timer unless they were complete
    assert stage.value("moodstream_windows_weeks_closed_total", trigger="idle") >= USERS
    assert stage.value("moodstream_windows_weeks_not_scored_total", reason="low_coverage") == below
    assert stage.value("moodstream_windows_revisions_total") == found["revised"]
    assert stage.value("moodstream_windows_revisions_too_old_total") == 0
    assert stage.value("moodstream_windows_dead_letters_total") == len(BAD)
    assert stage.value("moodstream_windows_samples_total") == len(samples) - len(BAD)
    _check_dead_letters(kafka_bootstrap, windows_topics)
    assert check_pat(settings, generated, reference, sent, tmp_path) >= 6


def _check_dead_letters(bootstrap: str, topics: TopicSettings) -> None:
    reader = TopicReader(bootstrap, topics.dlq)
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


def test_exactly_once_through_a_rebalance_to_two_workers_and_back_and_a_sigkill(
    kafka_bootstrap: str,
    windows_topics: TopicSettings,
    tmp_path: Path,
    generated: SyntheticSamples,
    reference: Reference,
) -> None:
    """A stage in-process holds all partitions for the first third of the samples; then
    ``run --stage windows`` joins its group (1 -> 2 workers: each rebalance hands whole
    partition numbers of both inputs to one worker, which restores their stores from the
    changelog), its worker is SIGKILLed once it is processing the second third and the
    supervisor restarts it (restore again); once the second third is committed the
    service stops (2 -> 1) and the first stage takes the last third and closes the idle
    users. Under read_committed: no event twice, no week lost, every week equal to the
    reference."""
    settings = stage_settings(kafka_bootstrap, windows_topics, tmp_path, Guarantee.EXACTLY_ONCE)
    env = service_env(
        kafka_bootstrap,
        windows_topics,
        settings.kafka.group_id,
        WINDOWS__STATE_DIR=tmp_path / "service-state",
        WINDOWS__ALLOWED_LATENESS_S=LATENESS_S,
        WINDOWS__IDLE_CLOSE_S=IDLE_S,
        PROCESSING__GUARANTEE="exactly_once",
    )
    samples = samples_of(generated)
    cuts = [0, len(samples) // 3, 2 * len(samples) // 3, len(samples)]
    features = len(generated.day_features)
    first = start_stage(settings)
    reader = TopicReader(kafka_bootstrap, windows_topics.features)
    try:
        _send_features(settings, generated, first)
        produce_raw(kafka_bootstrap, windows_topics.activity, samples[: cuts[1]])
        wait_committed(settings, (cuts[1], features), first)
        with running_service(env, tmp_path, "--stage", "windows", "--workers", "1") as service:
            _kill_the_second_worker_mid_stream(service, first, samples[cuts[1] : cuts[2]], settings)
            wait_committed(settings, (cuts[2], features), first)
            assert service.stop() == 0, service.logs()
        # the worker restored its partitions when it joined, and again once restarted
        assert _logged(service, "worker_exited", exit_code=-signal.SIGKILL) == 1
        assert _logged(service, "restored") >= 2
        wait_for(lambda: first.value(PARTS) == PARTITIONS, 60, "the first holds all again")
        produce_raw(kafka_bootstrap, windows_topics.activity, samples[cuts[2] :])
        wait_committed(settings, (len(samples), features), first)
        first.clock.shift_s = IDLE_S + 60  # the idle timers close every user's last days
        wait_weeks(reader, reference.scored(), first)
    finally:
        first.stop()
    # the first stage restored again when partitions came back, from a changelog with data
    assert first.value("moodstream_windows_restore_seconds_count") > PARTITIONS
    assert first.total("moodstream_windows_restore_offsets_done") > 0
    sent = read_sent(read_all(kafka_bootstrap, windows_topics.features, reader))
    assert max(Counter(s.event["event_id"] for s in sent).values()) == 1
    found = check_weeks(generated, reference, sent)
    assert found["weeks"] == len(reference.scored()) and found["revised"] >= 5, found


def _logged(service: Service, event: str, **fields: object) -> int:
    """How many of the service's JSON log lines are ``event`` with ``fields``."""
    lines = [json.loads(x) for x in service.logs().splitlines() if x.startswith("{")]
    return sum(e.get("event") == event and fields.items() <= e.items() for e in lines)


def _kill_the_second_worker_mid_stream(
    service: Service, first: Stage, samples: Records, settings: Settings
) -> None:
    """Wait until the service's worker shares the partitions, send ``samples``, SIGKILL
    that worker once it has processed some, wait until the supervisor restarted it."""

    def page() -> str:
        return service.get("/metrics")[1]

    wait_for(
        lambda: 0 < first.value(PARTS) < PARTITIONS and metric(page(), PARTS) > 0,
        90,
        "both workers hold partitions",
        alive=service.process,
    )
    produce_raw(settings.kafka.bootstrap_servers, settings.topics.activity, samples)
    wait_for(
        lambda: metric(page(), "moodstream_windows_samples_total") > 0,
        90,
        "the second worker processing samples",
        alive=service.process,
    )
    [worker] = workers(service.process.pid)
    os.kill(worker, signal.SIGKILL)
    wait_for(
        lambda: workers(service.process.pid) not in ([], [worker]),
        60,
        "the supervisor restarted the worker",
        alive=service.process,
    )


def test_a_stage_stopped_mid_stream_restores_its_state_from_the_changelog(
    kafka_bootstrap: str, windows_topics: TopicSettings, tmp_path: Path
) -> None:
    """20 users, at-least-once. The first stage stops after about a third of the samples
    (the last third is sent only after it stopped); the second wipes its local stores,
    restores them from the changelog and goes on. After dedupe by ``event_id`` (it may
    resend what was not committed): every revision once, every week equal to the
    reference. (Exactly-once restores: the rebalance and SIGKILL test.)"""
    gen = SyntheticSamples(26, SamplesPlan(users=20, days=9))
    settings = stage_settings(kafka_bootstrap, windows_topics, tmp_path)
    topics, group = settings.topics, settings.kafka.group_id
    samples = samples_of(gen) + BAD
    held_back = len(samples) // 3  # the second stage always has work left
    first = start_stage(settings)
    try:
        _send_features(settings, gen, first)
        produce_raw(kafka_bootstrap, topics.activity, samples[: len(samples) - held_back])
        wait_for(
            lambda: (
                committed_total(kafka_bootstrap, topics.activity, group, PARTITIONS)
                >= len(samples) // 3
            ),
            90,
            "a third of the samples committed",
        )
    finally:
        first.stop()
    produce_raw(kafka_bootstrap, topics.activity, samples[len(samples) - held_back :])
    second = start_stage(settings)
    try:
        wait_committed(settings, (len(samples), len(gen.day_features)), second)
        _close_idle_users(second, gen, first.value(DROPPED))
    finally:
        second.stop()
    assert second.value("moodstream_windows_restore_seconds_count") == PARTITIONS
    restored = sum(
        second.value("moodstream_windows_restore_offsets_total", partition=str(p))
        for p in range(PARTITIONS)
    )
    assert restored > 0, "nothing was restored from the changelog"
    sent = read_sent(read_all(kafka_bootstrap, windows_topics.features))
    unique = list({s.event["event_id"]: s for s in sent}.values())
    found = check_weeks(gen, Reference(gen), unique)
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
