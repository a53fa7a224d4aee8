"""One system's run of the peers bench: a fresh topic set, the backlog produced before the
system starts, then the system drains it while this process reads the outputs and samples
the system's CPU time; stopped once every event has its output.

The start of the window is the system's first read record, as the peer apps print it;
for moodstream, the time its worker logs ``group_settled`` (its partitions assigned and
resumed: a few ms before its first read, so never in its favour), else its first output's
broker timestamp (which would leave its first batch out). The end is the last
output's broker timestamp (LogAppendTime: when it was acknowledged). CPU: user + system
seconds of the process and its children (``/proc``, via psutil, sampled every
``SAMPLE_S``) over the same window, each edge interpolated between its two samples
(``cpu_within``; the sampled edges' figure is kept as ``cpu_s_widened``).
All calls block (bounded); raise BenchError or KafkaSetupError.
"""

from __future__ import annotations

import re
import subprocess
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import IO, Any

import orjson
import psutil
from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

from consumer.bench.endtoend import BenchContext
from consumer.bench.kafkaio import PARTITIONS, Record, produce_records, timed_producer
from consumer.bench.peer_report import Scores, cpu_between, cpu_within, run_figures
from consumer.bench.service import BenchError, Service, free_port, service_env
from consumer.settings import TopicSettings

SAMPLE_S = 0.05
STOP_TIMEOUT_S = 45.0
_FIRST_READ = re.compile(rb"first_consumed_unix=([0-9.]+)")
_SETTLED = re.compile(rb'"ts": "([^"]+)"[^\n]*"event": "group_settled"')


@dataclass
class Outputs:
    """Every output read: event_id → the three probabilities, and their broker times (s)."""

    scores: dict[str, Scores] = field(default_factory=dict)
    append_s: list[float] = field(default_factory=list)
    duplicates: int = 0


class OutputReader:
    """Reads an output topic from the start, all partitions assigned. Not thread-safe."""

    def __init__(self, client: dict[str, Any], topic: str) -> None:
        conf = {**client, "group.id": f"bench-peers-{uuid.uuid4().hex[:8]}"}
        conf.update({"enable.auto.commit": False, "fetch.wait.max.ms": 50})
        self._consumer = Consumer(conf)
        self._consumer.assign(
            [TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(PARTITIONS)]
        )
        self.outputs = Outputs()

    def poll(self, timeout_s: float) -> None:
        for msg in self._consumer.consume(num_messages=10_000, timeout=timeout_s):
            if msg.error() is not None:
                continue
            doc = orjson.loads(msg.value() or b"{}")
            event_id = str(doc.get("event_id"))
            if event_id in self.outputs.scores:
                self.outputs.duplicates += 1
                continue
            risk = doc.get("next_day_risk") or {}
            self.outputs.scores[event_id] = (
                risk.get("depression"),
                risk.get("hypomania"),
                risk.get("mania"),
            )
            self.outputs.append_s.append(msg.timestamp()[1] / 1000.0)

    def close(self) -> None:
        self._consumer.close()


class PeerProcess:
    """A peer app started with its venv's python; the same surface as ``Service``."""

    def __init__(self, command: Sequence[str], log_path: Path) -> None:
        self.log_path = log_path
        self._log: IO[bytes] = log_path.open("wb")
        self.process = subprocess.Popen(list(command), stdout=self._log, stderr=subprocess.STDOUT)

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self) -> int | None:
        """SIGTERM, wait (bounded), SIGKILL if needed. Returns the exit code."""
        if self.alive():
            self.process.terminate()
        try:
            code = self.process.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.process.kill()
            code = self.process.wait()
        self._log.close()
        return code

    def log_tail(self, lines: int = 8) -> str:
        text = self.log_path.read_text(encoding="utf-8", errors="replace").strip()
        return " | ".join(text.splitlines()[-lines:])


def tree_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of ``pid`` and its live children. Raises nothing."""
    total = 0.0
    try:
        root = psutil.Process(pid)
        for proc in (root, *root.children(recursive=True)):
            times = proc.cpu_times()
            total += times.user + times.system
    except psutil.Error:
        pass
    return total


@dataclass(frozen=True)
class SystemRun:
    """What to run: ``command`` None means ``moodstream run --workers 1``."""

    system: str
    command: tuple[str, ...] | None
    timeout_s: float


def run_system(
    ctx: BenchContext, run: SystemRun, records: Sequence[Record], label: str
) -> tuple[dict[str, Any], Outputs]:
    """One run, start to stop: its figures and its outputs. Raises BenchError when the
    system exits early or no output arrives."""
    topics = ctx.topics.topic_set(label)
    producer = timed_producer(ctx.client)
    produce_records(producer, topics.features, iter(records), len(records))
    group = f"bench-{label}-{uuid.uuid4().hex[:6]}"
    reader = OutputReader(ctx.client, topics.predictions)
    proc = _start(ctx, run, topics, group, ctx.log_dir / f"{label}.log")
    samples: list[tuple[float, float]] = []
    try:
        deadline = time.monotonic() + run.timeout_s
        while len(reader.outputs.scores) < len(records) and time.monotonic() < deadline:
            if not proc.alive():
                raise BenchError(f"{run.system} exited early: {proc.log_tail()}")
            reader.poll(SAMPLE_S)
            samples.append((time.time(), tree_cpu_seconds(proc.process.pid)))
        reader.poll(0.5)  # duplicates just behind the last output
        samples.append((time.time(), tree_cpu_seconds(proc.process.pid)))
    finally:
        exit_code = proc.stop()
        reader.close()
    return _figures(run.system, records, reader.outputs, samples, proc.log_path, exit_code)


def _start(
    ctx: BenchContext, run: SystemRun, topics: TopicSettings, group: str, log: Path
) -> Service | PeerProcess:
    if run.command is None:
        env = service_env(ctx.settings, ctx.bootstrap, topics, group, free_port())
        return Service(env, 1, log)
    args = ["--bootstrap", ctx.bootstrap, "--input", topics.features]
    args += ["--output", topics.predictions, "--group", group]
    args += ["--models", str(ctx.settings.models.dir.resolve())]
    args += ["--min-present", str(ctx.settings.ensemble.min_present_features)]
    args += ["--state-dir", str(ctx.log_dir / f"{group}-state")]
    return PeerProcess([*run.command, *args], log)


def start_mark(log: bytes) -> tuple[str, float | None]:
    """Where the run's window starts, from the system's log: a peer's printed first read,
    moodstream's ``group_settled`` line, or neither (``("", None)``). Pure."""
    found = _FIRST_READ.search(log)
    if found:
        return "first_read", float(found.group(1))
    settled = _SETTLED.search(log)
    if settled:
        stamp = settled.group(1).decode().replace("Z", "+00:00")
        return "group_settled", datetime.fromisoformat(stamp).timestamp()
    return "", None


def _figures(
    system: str,
    records: Sequence[Record],
    outputs: Outputs,
    samples: list[tuple[float, float]],
    log: Path,
    exit_code: int | None,
) -> tuple[dict[str, Any], Outputs]:
    if not outputs.append_s:
        raise BenchError(f"{system}: no output at all (see {log})")
    mark, start = start_mark(log.read_bytes())
    if start is None:
        mark, start = "first_output", min(outputs.append_s)
    end = max(outputs.append_s)
    events = len(outputs.scores)
    result: dict[str, Any] = {
        "system": system,
        "events": len(records),
        "outputs": events,
        "missing": len(records) - events,
        "duplicates": outputs.duplicates,
        "start": mark,
        "exit_code": exit_code,
        **run_figures(events, start, end, cpu_within(samples, start, end)),
        "cpu_s_widened": cpu_between(samples, start, end),  # the sampled edges, for reference
    }
    return result, outputs
