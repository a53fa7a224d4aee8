"""Helpers for integration tests: run the real CLI against the real broker, read topics back.

Waits are conditions with deadlines, never fixed sleeps.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer, Producer, TopicPartition

from consumer.settings import TopicSettings

REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def service_env(
    bootstrap: str, topics: TopicSettings, group: str, **settings: Any
) -> dict[str, str]:
    """Environment for a `moodstream` subprocess.

    ``settings`` keys are setting paths without the prefix, e.g. PROCESSING__MAX_BATCH_SIZE.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith("MOODSTREAM_")}
    env.update(
        {
            "MOODSTREAM_KAFKA__BOOTSTRAP_SERVERS": bootstrap,
            "MOODSTREAM_KAFKA__GROUP_ID": group,
            **topics.as_env(),
            "MOODSTREAM_MODELS__DIR": os.environ.get(
                "MOODSTREAM_TEST_MODELS_DIR", str(REPO / "models" / "demo")
            ),
            "MOODSTREAM_OBSERVABILITY__PORT": str(free_port()),
            "MOODSTREAM_OBSERVABILITY__HOST": "127.0.0.1",
        }
    )
    env.update({f"MOODSTREAM_{k}": str(v) for k, v in settings.items()})
    return env


@dataclass(frozen=True)
class Stream:
    """One test's broker, fresh topics and consumer group (the ``stream`` fixture)."""

    bootstrap: str
    topics: TopicSettings
    group: str

    def env(self, **settings: Any) -> dict[str, str]:
        """:func:`service_env` for this broker, topics and group (a fresh metrics port)."""
        return service_env(self.bootstrap, self.topics, self.group, **settings)

    def reader(self, topic: str) -> TopicReader:
        """A read_committed :class:`TopicReader` of ``topic`` from its beginning."""
        return TopicReader(self.bootstrap, topic)


def moodstream(
    *args: str, env: dict[str, str], timeout_s: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "consumer", *args],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
    )


def start_moodstream(*args: str, env: dict[str, str]) -> subprocess.Popen[str]:
    """Start a `moodstream` command in the background (stdout/stderr piped)."""
    return subprocess.Popen(
        [sys.executable, "-m", "consumer", *args],
        env=env,
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def produce_paced(
    env: dict[str, str], count: int, rate: int, seed: int, activity_share: float = 0.0
) -> subprocess.Popen[str]:
    """Start `moodstream produce --synthetic` (``count`` events at ``rate``/s, ``seed``, a
    week of activity on ``activity_share`` of them) in the background; the caller waits on
    the process."""
    return start_moodstream(
        "produce", "--synthetic", "--count", str(count), "--rate", str(rate),
        "--seed", str(seed), "--activity-share", str(activity_share), "--json", env=env,
    )  # fmt: skip


@dataclass
class Service:
    """A running `moodstream run` (the supervisor and its workers)."""

    process: subprocess.Popen[Any]
    port: int
    log_path: Path

    def get(self, path: str) -> tuple[int, str]:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=2) as resp:
                return resp.status, resp.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()
        except OSError as exc:
            return 0, str(exc)

    def wait_ready(self, timeout_s: float = 90) -> None:
        wait_for(
            lambda: self.get("/readyz")[0] == 200,
            timeout_s,
            "service never became ready",
            alive=self.process,
        )

    def stop(self, timeout_s: float = 45) -> int:
        """SIGTERM, wait for exit (bounded), return the exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=timeout_s)

    def logs(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")


@contextmanager
def running_service(
    env: dict[str, str], tmp_path: Path, *args: str, module: str = "consumer"
) -> Iterator[Service]:
    """`python -m <module> run <args>` in the background; SIGTERM (then kill) on exit."""
    log_path = tmp_path / f"service-{time.monotonic_ns()}.log"
    command = [sys.executable, "-m", module, *(["run"] if module == "consumer" else []), *args]
    with log_path.open("w") as log:
        process = subprocess.Popen(
            command,
            env=env,
            cwd=REPO,
            stdout=log,
            stderr=subprocess.STDOUT,
            text=True,
        )
    service = Service(process, int(env["MOODSTREAM_OBSERVABILITY__PORT"]), log_path)
    try:
        yield service
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=45)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def wait_for(
    condition: Callable[[], bool],
    timeout_s: float,
    message: str,
    alive: subprocess.Popen[Any] | None = None,
) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return
        if alive is not None and alive.poll() is not None:
            raise AssertionError(f"{message}: process exited with {alive.returncode}")
        time.sleep(0.1)
    raise AssertionError(f"{message} within {timeout_s} s")


@dataclass
class TopicReader:
    """Reads a topic from the beginning with read_committed, accumulating records."""

    bootstrap: str
    topic: str
    records: list[Any] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._consumer = Consumer(
            {
                "bootstrap.servers": self.bootstrap,
                "group.id": f"reader-{time.monotonic_ns()}",
                "auto.offset.reset": "earliest",
                "enable.auto.commit": False,
                "isolation.level": "read_committed",
            }
        )
        self._consumer.subscribe([self.topic])

    def poll(self, seconds: float = 0.5) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            for msg in self._consumer.consume(num_messages=1000, timeout=0.2):
                if msg.error() is None:
                    self.records.append(msg)

    def values(self) -> list[dict[str, Any]]:
        return [json.loads(m.value()) for m in self.records]

    def event_ids(self) -> Counter[str]:
        """How many records of each ``event_id`` were read (duplicates count > 1)."""
        return Counter(value["event_id"] for value in self.values())

    def wait_for_ids(self, expected: set[str], timeout_s: float) -> None:
        """Poll until every expected event_id was read or the deadline passes (the caller
        asserts what it needs afterwards)."""
        deadline = time.monotonic() + timeout_s
        while not expected <= set(self.event_ids()) and time.monotonic() < deadline:
            self.poll(0.5)

    def wait_count(self, count: int, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while len(self.records) < count and time.monotonic() < deadline:
            self.poll(0.5)
        assert len(self.records) >= count, f"{self.topic}: {len(self.records)} of {count} records"

    def close(self) -> None:
        self._consumer.close()


def produce_raw(
    bootstrap: str, topic: str, records: Sequence[tuple[bytes | None, bytes | None]]
) -> None:
    producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True})
    for key, value in records:
        producer.produce(topic, key=key, value=value)
        producer.poll(0)
    assert producer.flush(30) == 0


def committed_total(bootstrap: str, topic: str, group: str, partitions: int) -> int:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group})
    try:
        tps = consumer.committed([TopicPartition(topic, p) for p in range(partitions)], timeout=10)
        return sum(max(tp.offset, 0) for tp in tps)
    finally:
        consumer.close()
