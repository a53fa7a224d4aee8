"""Group protocols compared: the classic protocol (cooperative-sticky) and KIP-848's
``group.protocol=consumer``, on the local three-node cluster with a paced producer.

For one protocol: the time from ``moodstream run --workers 2`` to its first prediction
(and from ready to it); then the longest per-partition gap in predictions while another
instance (1 worker) joins, leaves (SIGTERM), and is killed (SIGKILL of its whole process
group, so nothing leaves the group: its partitions move after the session timeout).
A gap is the longest time any one input partition went without a prediction arriving.
Blocks for about 2 minutes per protocol.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from consumer.chaos.accounting import longest_gap_s, totals
from consumer.chaos.suite import cluster_and_topics, free_port, is_ready, service_env
from consumer.chaos.traffic import PacedProducer, PredictionReader
from consumer.errors import BrokerError
from consumer.kafka.admin import delete_topics
from consumer.kafka.topics_plan import ensure_topics
from consumer.settings import Guarantee, Settings, TopicSettings

READY_TIMEOUT_S = 240.0
SESSION_TIMEOUT_S = 10.0


@dataclass
class ProtocolResult:
    group_protocol: str
    run_to_first_prediction_s: float | None = None
    ready_s: float | None = None
    first_prediction_after_ready_s: float | None = None
    join_gap_s: float | None = None
    leave_gap_s: float | None = None
    kill_gap_s: float | None = None
    events: int = 0
    lost: int = 0
    duplicates: int = 0


@dataclass(frozen=True)
class _Env:
    cfg_protocol: str
    bootstrap: str
    topics: TopicSettings
    group: str
    models_dir: Path
    log_dir: Path


def _start(env: _Env, workers: int, name: str) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    variables = service_env(
        Guarantee.AT_LEAST_ONCE,
        env.cfg_protocol,
        env.models_dir,
        env.bootstrap,
        env.topics,
        env.group,
        port,
    )
    with open(env.log_dir / f"rebalance-{env.cfg_protocol}-{name}.log", "wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "consumer", "run", "--workers", str(workers)],
            env=variables,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return proc, port


def _assigned(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as resp:
            workers = json.loads(resp.read()).get("workers", {})
    except (OSError, ValueError):
        return False
    return any(w.get("assigned") for w in workers.values())


def _until(condition: Callable[[], bool], timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return False


def _gap(reader: PredictionReader, start_s: float, end_s: float) -> float:
    gaps = [
        longest_gap_s(sorted(times), start_s, end_s)
        for partition, times in list(reader.arrivals_by_partition.items())
        if partition >= 0
    ]
    return round(max(gaps, default=end_s - start_s), 2)


def measure_protocol(
    settings: Settings,
    protocol: str,
    *,
    rate_per_s: float,
    log_dir: Path,
    observe_s: float = 12.0,
    progress: Callable[[str], None] = lambda _m: None,
) -> ProtocolResult:
    """Measure one group protocol (see the module docstring). Raises BrokerError when the
    cluster is not up or a service never becomes ready."""
    cluster, topics, suffix = cluster_and_topics(settings, "groups", 6)
    admin = {"bootstrap.servers": cluster.bootstrap_servers}
    ensure_topics(admin, topics, 60.0)
    log_dir.mkdir(parents=True, exist_ok=True)
    env = _Env(
        protocol,
        cluster.bootstrap_servers,
        topics,
        f"groups-{suffix}",
        settings.models.dir,
        log_dir,
    )
    try:
        return _measure(env, rate_per_s, observe_s, progress)
    finally:
        delete_topics(admin, topics.all())


def _measure(
    env: _Env, rate_per_s: float, observe_s: float, progress: Callable[[str], None]
) -> ProtocolResult:
    result = ProtocolResult(env.cfg_protocol)
    admin = {"bootstrap.servers": env.bootstrap}
    reader = PredictionReader(admin, env.topics.predictions, env.topics.partitions)
    producer = PacedProducer(admin, env.topics.features, rate_per_s)
    reader.start()
    producer.start()
    time.sleep(2.0)  # a small backlog is waiting when the service starts
    run_at = time.time()
    main, port = _start(env, 2, "main")
    others: list[subprocess.Popen[bytes]] = []
    try:
        if not _until(lambda: is_ready(port), READY_TIMEOUT_S):
            raise BrokerError("the service never became ready")
        ready_at = time.time()
        _until(lambda: bool(reader.predictions), 60.0)
        first = reader.predictions[0][1] if reader.predictions else None
        result.ready_s = round(ready_at - run_at, 2)
        if first is not None:
            result.run_to_first_prediction_s = round(first - run_at, 2)
            result.first_prediction_after_ready_s = round(first - ready_at, 2)
        time.sleep(5.0)
        progress(f"{env.cfg_protocol}: a worker joins")
        start = time.time()
        joiner, joiner_port = _start(env, 1, "join")
        others.append(joiner)
        _until(lambda: _assigned(joiner_port), READY_TIMEOUT_S)
        time.sleep(observe_s)
        result.join_gap_s = _gap(reader, start, time.time())
        progress(f"{env.cfg_protocol}: it leaves")
        start = time.time()
        joiner.send_signal(signal.SIGTERM)
        joiner.wait(60)
        time.sleep(observe_s)
        result.leave_gap_s = _gap(reader, start, time.time())
        victim, victim_port = _start(env, 1, "kill")
        others.append(victim)
        _until(lambda: _assigned(victim_port), READY_TIMEOUT_S)
        time.sleep(5.0)
        progress(f"{env.cfg_protocol}: a worker is killed")
        start = time.time()
        os.killpg(victim.pid, signal.SIGKILL)
        victim.wait(30)
        time.sleep(SESSION_TIMEOUT_S + observe_s)
        result.kill_gap_s = _gap(reader, start, time.time())
        producer.stop()
        _until(lambda: reader.have_all(set(producer.acked)), 120.0)
    finally:
        producer.stop()
        reader.stop()
        for proc in [main, *others]:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(60)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
    result.events, result.lost, result.duplicates = totals(producer.acked, reader.predictions)
    return result
