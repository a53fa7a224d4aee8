"""The windows stage in ``moodstream bench`` (issue 26, item 7), end to end on the broker.

Each scenario gets fresh topics, its own group and state directory, and runs the real
stage as an operator does (``moodstream run --stage windows --workers 1``):

- an idle worker on empty topics: the CPU a worker spends to start (subtracted below);
- **day chunks**: ``users`` x 8 days of 1,440-value records produced before the worker
  starts, drained (the group's committed offsets reach the end); minute values per
  worker CPU-s (``/proc`` of the worker, as for the scoring workers), its peak RSS; then,
  the worker stopped, the **store on disk** per user-day;
- **restore**: a fresh worker (empty state directory, same group) rebuilds every
  partition from the changelog the drain left; the stage's ``restored`` log events give
  the seconds;
- **one-minute records**: the same for records of one value; records per worker CPU-s;
- **RSS at 1x**: the day-chunk drain with a tenth of the users (when planned), its peak
  RSS against the 10x one;
- the logic alone (no Kafka) for reference (``windows_load.logic_rates``).

Blocks for the whole section; raises BenchError or KafkaSetupError when something cannot
be measured. The state directories are deleted at the end.
"""

from __future__ import annotations

import shutil
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer, TopicPartition

from consumer.bench import windows_figures as figures
from consumer.bench.endtoend import GROUP_TIMEOUT_S, BenchContext
from consumer.bench.kafkaio import (
    PARTITIONS,
    Record,
    TopicRegistry,
    produce_records,
    timed_producer,
    wait_group_stable,
)
from consumer.bench.machine import load_average, machine_info
from consumer.bench.plan import WindowsPlan
from consumer.bench.service import BenchError, Service, free_port, service_env
from consumer.bench.windows_load import DAY_MINUTES, DAYS, day_chunks, logic_rates, minute_records
from consumer.kafka.group_names import windows_group
from consumer.settings import Settings, TopicSettings

#: A drain's deadline: this much, plus a second per this many records.
DRAIN_BASE_S = 120.0
DRAIN_RECORDS_PER_S = 200


def run_windows_only(
    settings: Settings,
    bootstrap: str,
    client: dict[str, Any],
    plan: WindowsPlan,
    progress: Callable[[str], None],
    log_dir: Path,
) -> dict[str, Any]:
    """``moodstream bench --only windows``: this section alone, with the machine and its
    load at the start and the end (the rest of the suite's document is absent). Blocks;
    deletes its topics at the end; raises as ``run_windows``."""
    doc: dict[str, Any] = {"machine": machine_info(settings.broker.kafka_version)}
    registry = TopicRegistry(client)
    log_dir.mkdir(parents=True, exist_ok=True)
    ctx = BenchContext(settings, bootstrap, client, registry, log_dir, progress)
    try:
        doc["windows"] = run_windows(ctx, plan)
    finally:
        registry.delete_all()
    doc["machine"]["load_avg_end"] = load_average()
    return doc


def run_windows(ctx: BenchContext, plan: WindowsPlan) -> dict[str, Any]:
    """Every scenario of the section (see the module doc); the section's document."""
    state_root = ctx.log_dir / f"windows-state-{uuid.uuid4().hex[:6]}"
    bench = _WindowsBench(ctx, state_root)
    try:
        return bench.run(plan)
    finally:
        shutil.rmtree(state_root, ignore_errors=True)


class _WindowsBench:
    def __init__(self, ctx: BenchContext, state_root: Path) -> None:
        self.ctx = ctx
        self.state_root = state_root

    def run(self, plan: WindowsPlan) -> dict[str, Any]:
        progress = self.ctx.progress
        section: dict[str, Any] = {"users": plan.users, "days": DAYS}
        progress("windows: an idle worker's start")
        startup = self._startup_cpu()
        section["startup_cpu_s"] = round(startup, 3)
        day = self._day_chunks(plan, startup, section)
        count = plan.minute_users * plan.minutes
        progress(f"windows: {count} one-minute records, 1 worker")
        minute = self._drain("minute", minute_records(plan.minute_users, plan.minutes), count)
        section["minute_records"] = {
            **figures.drain_figures(count, minute["cpu_s"], startup, "records"),
            "users": plan.minute_users,
            "drain_wall_s": minute["wall_s"],
        }
        if plan.rss_base_users:
            progress(f"windows: {plan.rss_base_users} users (1x) for the RSS")
            base = self._drain("rss", day_chunks(plan.rss_base_users), plan.rss_base_users * DAYS)
            section["rss"] = figures.rss_figures(
                plan.rss_base_users, base["rss"], plan.users, day["rss"]
            )
        progress("windows: the logic alone")
        section["logic_only"] = logic_rates(
            self.ctx.settings, min(plan.users, 500), plan.minute_users, min(plan.minutes, 200)
        )
        section["goals"] = figures.goals(section)
        for goal in section["goals"]:
            progress(f"  {goal['name']}: {goal['value']} (goal {goal['goal']}): {goal['met']}")
        return section

    def _day_chunks(
        self, plan: WindowsPlan, startup: float, section: dict[str, Any]
    ) -> dict[str, Any]:
        """The day-chunk drain, the store it left on disk, and its restore; the drain."""
        self.ctx.progress(f"windows: {plan.users} users x {DAYS} days of day chunks, 1 worker")
        user_days = plan.users * DAYS
        day = self._drain("day", day_chunks(plan.users), user_days, keep=True)
        section["day_chunks"] = {
            **figures.drain_figures(
                user_days * DAY_MINUTES, day["cpu_s"], startup, "minute values"
            ),
            "records": user_days,
            "drain_wall_s": day["wall_s"],
        }
        section["store"] = figures.store_figures(*_dir_bytes(day["state"]), user_days)
        self.ctx.progress("windows: restore by a fresh worker")
        restored = self._restore(day["topics"], day["group"])
        section["restore"] = figures.restore_figures(restored, user_days)
        return day

    def _topics(self, label: str) -> TopicSettings:
        base = self.ctx.topics.topic_set(f"windows-{label}")
        names = {
            role: f"{base.features.removesuffix('.features')}.{role}"
            for role in ("activity", "day_features", "windows_changelog")
        }
        self.ctx.topics.create(list(names.values()))
        return base.model_copy(update=names)

    def _start(self, topics: TopicSettings, group: str, state: Path, label: str) -> Service:
        env = service_env(self.ctx.settings, self.ctx.bootstrap, topics, group, free_port())
        env["MOODSTREAM_WINDOWS__STATE_DIR"] = str(state)
        log = self.ctx.log_dir / f"service-windows-{label}.log"
        service = Service(env, 1, log, stage="windows")
        service.wait_ready()
        return service

    def _startup_cpu(self) -> float:
        topics = self._topics("idle")
        group = f"bench-windows-idle-{uuid.uuid4().hex[:6]}"
        service = self._start(topics, group, self.state_root / "idle", "idle")
        try:
            wait_group_stable(
                self.ctx.client,
                windows_group(group),
                1,
                topics.activity,
                GROUP_TIMEOUT_S,
                service.alive,
            )
            return service.cpu_seconds()
        finally:
            service.stop()

    def _drain(
        self, label: str, records: Iterator[Record], count: int, keep: bool = False
    ) -> dict[str, Any]:
        """Produce ``count`` records, then start a worker and wait until it committed them."""
        topics = self._topics(label)
        group = f"bench-windows-{label}-{uuid.uuid4().hex[:6]}"
        log = produce_records(timed_producer(self.ctx.client), topics.activity, records, count)
        if log.failed:
            raise BenchError(f"windows bench: {log.failed} records not acknowledged")
        state = self.state_root / label
        started = time.monotonic()
        service = self._start(topics, group, state, label)
        try:
            timeout = DRAIN_BASE_S + count / DRAIN_RECORDS_PER_S
            _wait_committed(
                self.ctx.client, windows_group(group), topics.activity, timeout, service
            )
            wall = time.monotonic() - started
            cpu = service.cpu_seconds()
            memory = service.memory()
        finally:
            service.stop()
        if not keep:
            shutil.rmtree(state, ignore_errors=True)
        return {
            "cpu_s": cpu,
            "wall_s": round(wall, 2),
            "rss": {  # the one worker's
                "rss_mb": next(iter(memory["workers_rss_mb"]), None),
                "peak_rss_mb": next(iter(memory["workers_peak_rss_mb"]), None),
            },
            "state": state,
            "topics": topics,
            "group": group,
        }

    def _restore(self, topics: TopicSettings, group: str) -> list[dict[str, Any]]:
        """A fresh worker of ``group`` restores every partition; its ``restored`` events."""
        service = self._start(topics, group, self.state_root / "restore", "restore")
        try:
            deadline = time.monotonic() + DRAIN_BASE_S
            while time.monotonic() < deadline and service.alive():
                events = figures.restored_events(_lines(service.log_path))
                if len(events) >= PARTITIONS:
                    return events
                time.sleep(0.2)
            raise BenchError(f"windows restore: not every partition restored: {service.log_tail()}")
        finally:
            service.stop()


def _lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8", errors="replace").splitlines()


def _wait_committed(
    client: dict[str, Any], group: str, topic: str, timeout_s: float, service: Service
) -> None:
    """Block until ``group`` has committed the end of every partition of ``topic``.
    Raises BenchError on the timeout or when the service exits."""
    conf = {**client, "group.id": group, "enable.auto.commit": False}
    probe = Consumer(conf)
    try:
        partitions = [TopicPartition(topic, p) for p in range(PARTITIONS)]
        marks = {p.partition: probe.get_watermark_offsets(p, timeout=10) for p in partitions}
        # a partition with no record has nothing to commit (no user of the run hashes there)
        ends = {p: high for p, (low, high) in marks.items() if high > low}
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and service.alive():
            committed = probe.committed(partitions, timeout=10)
            if all(tp.offset >= ends.get(tp.partition, tp.offset) for tp in committed):
                return
            time.sleep(0.2)
    finally:
        probe.close()
    raise BenchError(
        f"windows drain of {topic} not committed in {timeout_s:g} s: {service.log_tail()}"
    )


def _dir_bytes(path: Path) -> tuple[int, int]:
    """(every file's bytes, the SST files' bytes) under ``path``."""
    files = [f for f in path.rglob("*") if f.is_file()]
    total = sum(f.stat().st_size for f in files)
    return total, sum(f.stat().st_size for f in files if f.suffix == ".sst")
