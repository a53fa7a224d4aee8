"""Helpers of the windows stage's integration tests: the stage in-process (its loop on a
thread, the real clients, a wall clock the test can move), sending the generator's
records, waiting on committed offsets, reading what the stage sent."""

from __future__ import annotations

import threading
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
from confluent_kafka import Consumer, TopicPartition
from prometheus_client import CollectorRegistry

from consumer.clock import SystemClock
from consumer.producer.synthetic_samples import SyntheticSamples
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
from tests.integration.harness import TopicReader, wait_for

PARTITIONS = 3
LATENESS_S = 26 * 3_600
IDLE_S = 3_600

Records = list[tuple[bytes | None, bytes | None]]


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

    def total(self, name: str) -> float:
        """``name`` summed over all its labels."""
        return sum(s.value for m in self.registry.collect() for s in m.samples if s.name == name)


def start_stage(settings: Settings, index: int = 0) -> Stage:
    registry, clock = CollectorRegistry(), ShiftedClock()
    runner = build_windows_runner(
        settings,
        bootstrap=settings.kafka.bootstrap_servers,
        worker_index=index,
        clock=clock,
        metrics=WindowsMetrics(registry),
    )
    return Stage(runner, registry, clock)


def stage_settings(
    bootstrap: str,
    topics: TopicSettings,
    tmp: Path,
    guarantee: Guarantee = Guarantee.AT_LEAST_ONCE,
    **windows: Any,
) -> Settings:
    """The windows stage's settings for a test: a fresh group, 26 h of lateness, an
    idle timeout of an hour (``ShiftedClock`` moves past it), ``windows`` overrides."""
    group = f"moodstream-test-{uuid.uuid4().hex[:12]}"
    section = WindowsSettings(
        allowed_lateness_s=LATENESS_S, idle_close_s=IDLE_S, state_dir=tmp / "state", **windows
    )
    processing = ProcessingSettings(guarantee=guarantee)
    base = settings_for(bootstrap, topics, group, windows=section, processing=processing)
    return windows_settings(base)


def samples_of(gen: SyntheticSamples) -> Records:
    return [(r.key, r.value) for r in gen.samples]


def wait_committed(
    settings: Settings, counts: tuple[int, int], stage: Stage | None, timeout_s: float = 120
) -> None:
    """Until the group committed (``counts``) records of (activity, day features); fails
    early when ``stage`` failed. One consumer asks (it never joins the group)."""
    topics, group = settings.topics, settings.kafka.group_id
    consumer = Consumer({"bootstrap.servers": settings.kafka.bootstrap_servers, "group.id": group})
    seen: list[tuple[int, int]] = []

    def total(topic: str) -> int:
        asked = [TopicPartition(topic, p) for p in range(PARTITIONS)]
        return sum(max(tp.offset, 0) for tp in consumer.committed(asked, timeout=10))

    def done() -> bool:
        assert stage is None or stage.error is None, repr(stage.error)
        seen[:] = [(total(topics.activity), total(topics.day_features))]
        return seen[0] == counts

    try:
        wait_for(done, timeout_s, "every input committed")
    except AssertionError as exc:
        raise AssertionError(f"{exc}: committed {seen}, sent {counts}") from None
    finally:
        consumer.close()


def read_all(bootstrap: str, topic: str, reader: TopicReader | None = None) -> list[Any]:
    """Every record of ``topic`` (read_committed), once no new one came for 1.5 s: the
    stage has committed all its inputs, so all are acknowledged."""
    reader = reader or TopicReader(bootstrap, topic)
    try:
        seen = -1
        while len(reader.records) != seen:
            seen = len(reader.records)
            reader.poll(1.5)
        return list(reader.records)
    finally:
        reader.close()


def wait_weeks(
    reader: TopicReader, keys: set[tuple[str, str]], stage: Stage, timeout_s: float = 120
) -> None:
    """Until ``reader`` has read a week for every (user, day) of ``keys``; fails early
    when ``stage`` failed. ``reader`` keeps what it read."""
    seen: set[tuple[str, str]] = set()
    done = [0]

    def ready() -> bool:
        assert stage.error is None, repr(stage.error)
        reader.poll(0.5)
        for message in reader.records[done[0] :]:
            event = orjson.loads(message.value())
            if event.get("activity") is not None:
                seen.add((event["user_id"], event["as_of"]))
        done[0] = len(reader.records)
        return keys <= seen

    try:
        wait_for(ready, timeout_s, "every week sent")
    except AssertionError as exc:
        raise AssertionError(f"{exc}: {len(keys - seen)} of {len(keys)} missing") from None


def workers(supervisor: int) -> list[int]:
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


def metric(text: str, name: str) -> float:
    """The sum of the samples of ``name`` (any labels) in a Prometheus text page."""
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name) and line[len(name) : len(name) + 1] in (" ", "{"):
            total += float(line.rsplit(" ", 1)[1])
    return total
