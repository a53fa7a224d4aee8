"""One chaos run: topics (replication 3, min ISR 2) on the local cluster, a 2-worker
``moodstream run``, a paced producer and a prediction reader, then the faults one after
another, then the accounting. Blocks for the whole run (minutes).

Between faults the run waits until every event acknowledged so far has its prediction and
no partition is under-replicated, then ``settle_s`` of steady traffic. The service is a
real subprocess (``python -m consumer run``), never restarted by the suite: if it exits
on its own the run says so (``service_exit``).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from functools import partial
from pathlib import Path

from consumer.chaos import faults as fault_lib
from consumer.chaos.accounting import FaultStats, FaultWindow, fault_stats, first_arrivals, totals
from consumer.chaos.network_faults import ALL_FAULTS
from consumer.chaos.signals import Sample, SignalSampler, crash_times, signal_stats
from consumer.chaos.traffic import PacedProducer, PredictionReader
from consumer.errors import BrokerError
from consumer.kafka.admin import delete_topics
from consumer.kafka.clients import transactional_id
from consumer.kafka.topics_plan import ensure_topics
from consumer.localkafka.broker_proc import port_open
from consumer.localkafka.cluster import LocalCluster
from consumer.localkafka.cluster_files import NODE_IDS, node_ports
from consumer.localkafka.toxiproxy import ToxiproxyClient
from consumer.settings import Guarantee, KafkaSettings, Settings, TopicSettings

READY_TIMEOUT_S = 240.0
STOP_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class RunConfig:
    guarantee: Guarantee
    group_protocol: str
    faults: tuple[str, ...]
    durations: fault_lib.Durations
    rate_per_s: float
    log_dir: Path
    models_dir: Path = Path("models/demo")
    workers: int = 2
    partitions: int = 6
    settle_s: float = 5.0
    catch_up_timeout_s: float = 150.0
    #: Extra MOODSTREAM_* variables for the service (e.g. LIBRDKAFKA_DEFAULTS_ENV).
    service_overrides: tuple[tuple[str, str], ...] = ()
    client_defaults: str = "tuned"  # or "librdkafka": shown in the table


@dataclass
class RunResult:
    guarantee: str
    group_protocol: str
    rows: list[FaultStats] = field(default_factory=list)
    client_defaults: str = "tuned"
    events: int = 0
    lost: int = 0
    duplicates: int = 0
    #: (event_id, partition, offset) of each duplicate record on the predictions topic
    duplicate_records: list[tuple[str, int, int]] = field(default_factory=list)
    reader_rereads: int = 0  # records the reader fetched twice (skipped, not duplicates)
    produce_failed: int = 0
    service_exit: int | None = None
    worker_crashes: int = 0  # workers the supervisor restarted (from the service log)
    ready_s: float | None = None
    first_prediction_after_ready_s: float | None = None
    seconds: float = 0.0
    log: str = ""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def service_env(
    guarantee: Guarantee,
    group_protocol: str,
    models_dir: Path,
    bootstrap: str,
    topics: TopicSettings,
    group: str,
    port: int,
) -> dict[str, str]:
    """The environment of a ``moodstream run`` child: only these MOODSTREAM_* settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MOODSTREAM_")}
    env.update(topics.as_env())
    env.update(
        {
            "MOODSTREAM_KAFKA__BOOTSTRAP_SERVERS": bootstrap,
            "MOODSTREAM_KAFKA__GROUP_ID": group,
            "MOODSTREAM_KAFKA__GROUP_PROTOCOL": group_protocol,
            "MOODSTREAM_PROCESSING__GUARANTEE": guarantee.value,
            "MOODSTREAM_MODELS__DIR": str(models_dir),
            "MOODSTREAM_OBSERVABILITY__PORT": str(port),
            "MOODSTREAM_OBSERVABILITY__HOST": "127.0.0.1",
        }
    )
    return env


def is_ready(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as resp:
            return bool(resp.status == 200)
    except OSError:
        return False


def _wait(
    condition: Callable[[], bool], timeout_s: float, service: subprocess.Popen[bytes]
) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        if service.poll() is not None:
            return False
        time.sleep(0.2)
    return False


def cluster_and_topics(
    settings: Settings, kind: str, partitions: int
) -> tuple[LocalCluster, TopicSettings, str]:
    """The running local cluster and a fresh set of the five topics' names (suffixed
    ``.<kind>.<suffix>``, not created yet), with the suffix. Does not block (pid checks).
    Raises BrokerError when a node of the cluster is not up."""
    cluster = LocalCluster(settings.broker, settings.cluster)
    if not all(node.up for node in cluster.status()):
        raise BrokerError("the local cluster is not up: run `moodstream broker start --nodes 3`")
    suffix = uuid.uuid4().hex[:10]
    defaults = TopicSettings()
    names = {
        n: f"{getattr(defaults, n)}.{kind}.{suffix}"
        for n in ("features", "predictions", "alerts", "dlq", "overflow")
    }
    return cluster, TopicSettings.model_validate({**names, "partitions": partitions}), suffix


def run_suite(settings: Settings, cfg: RunConfig, progress: Callable[[str], None]) -> RunResult:
    """Run the faults of ``cfg`` against the running local cluster; return the accounting.
    The service connects through the fault proxy (started here if it is not running, its
    toxics cleared); the suite's producer and reader connect directly.

    Raises BrokerError when the cluster is not fully up, was started without the proxied
    listener, or a node cannot be restarted.
    """
    cluster, topics, suffix = cluster_and_topics(settings, "chaos", cfg.partitions)
    if not all(port_open(node_ports(settings.cluster, n).proxied) for n in NODE_IDS):
        raise BrokerError(
            "the running cluster has no PROXIED listener (started by an older moodstream): "
            "restart it with `moodstream broker stop --nodes 3 && moodstream broker start "
            "--nodes 3`"
        )
    proxy = cluster.proxy().start()
    admin_config = {"bootstrap.servers": cluster.bootstrap_servers}
    fault_lib.wait_whole(admin_config)  # a previous run's last fault may still be healing
    ensure_topics(admin_config, topics, 60.0)
    try:
        return _run(cluster, proxy, cfg, topics, f"chaos-{suffix}", progress)
    finally:
        with contextlib.suppress(Exception):
            delete_topics(admin_config, topics.all())


def _run(
    cluster: LocalCluster,
    proxy: ToxiproxyClient,
    cfg: RunConfig,
    topics: TopicSettings,
    group: str,
    progress: Callable[[str], None],
) -> RunResult:
    result = RunResult(cfg.guarantee.value, cfg.group_protocol, client_defaults=cfg.client_defaults)
    admin_config = {"bootstrap.servers": cluster.bootstrap_servers}
    port = free_port()
    cfg.log_dir.mkdir(parents=True, exist_ok=True)
    log_path = cfg.log_dir / f"service-{cfg.guarantee.value}-{cfg.group_protocol}-{group}.log"
    result.log = str(log_path)
    reader = PredictionReader(admin_config, topics.predictions, cfg.partitions)
    producer = PacedProducer(admin_config, topics.features, cfg.rate_per_s)
    started = time.time()
    with open(log_path, "wb") as log:
        service = subprocess.Popen(
            [sys.executable, "-m", "consumer", "run", "--workers", str(cfg.workers)],
            env=service_env(
                cfg.guarantee,
                cfg.group_protocol,
                cfg.models_dir,
                cluster.proxied_bootstrap_servers,
                topics,
                group,
                port,
            )
            | dict(cfg.service_overrides),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    reader.start()
    producer.start()
    sampler = SignalSampler(port)
    try:
        if not _wait(lambda: is_ready(port), READY_TIMEOUT_S, service):
            raise BrokerError(f"the service never became ready (log: {log_path})")
        ready_at = time.time()
        sampler.start()
        result.ready_s = round(ready_at - started, 2)
        _wait(lambda: bool(reader.predictions), 60.0, service)
        if reader.predictions:
            result.first_prediction_after_ready_s = round(
                max(0.0, reader.predictions[0][1] - ready_at), 2
            )
        windows = _faults(
            fault_lib.Target(
                cluster,
                admin_config,
                topics.features,
                group,
                _transactional_ids(cfg, group, log_path),
                cfg.durations,
                proxy,
            ),
            cfg,
            producer,
            reader,
            service,
            progress,
        )
        producer.stop()
        _wait(lambda: reader.have_all(set(producer.acked)), cfg.catch_up_timeout_s, service)
        end = time.time()
    finally:
        producer.stop()
        reader.stop()
        sampler.stop()
        result.service_exit = service.poll()
        if service.poll() is None:
            service.send_signal(signal.SIGTERM)
            try:
                service.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                service.kill()
                service.wait()
    result.seconds = round(time.time() - started, 1)
    crashes = crash_times(log_path.read_text(errors="replace"))
    result.worker_crashes = len(crashes)
    closed = [
        FaultWindow(w.name, w.start_s, w.heal_s, nxt.start_s if nxt else end, w.placement)
        for w, nxt in zip(windows, [*windows[1:], None], strict=True)
    ]
    result.rows = [
        _row(w, producer.acked, reader.predictions, sampler.samples, crashes, cfg.rate_per_s)
        for w in closed
    ]
    result.events, result.lost, result.duplicates = totals(producer.acked, reader.predictions)
    result.duplicate_records = list(reader.duplicate_records)
    result.reader_rereads = reader.rereads
    result.produce_failed = len(producer.failed)
    return result


def service_instance(log_path: Path) -> str:
    """The instance id the service logged (part of its transactional ids), or ''."""
    for line in log_path.read_text(errors="replace").splitlines():
        if '"serving_metrics"' in line:
            try:
                return str(json.loads(line).get("instance") or "")
            except ValueError:
                return ""
    return ""


def _transactional_ids(cfg: RunConfig, group: str, log_path: Path) -> list[str]:
    """The workers' transactional ids (exactly-once), else none."""
    if cfg.guarantee is not Guarantee.EXACTLY_ONCE:
        return []
    kafka = KafkaSettings(group_id=group)
    instance = service_instance(log_path)
    return [transactional_id(Settings(kafka=kafka), i, instance) for i in range(cfg.workers)]


def _row(
    window: FaultWindow,
    acked: dict[str, float],
    predictions: list[tuple[str, float]],
    samples: list[Sample],
    crashes: list[float],
    rate_per_s: float,
) -> FaultStats:
    stats = fault_stats(window, acked, predictions)
    signals = signal_stats(
        window, samples, acked, first_arrivals(predictions), stats.longest_gap_s, rate_per_s
    )
    return replace(
        stats,
        worker_crashes=sum(1 for at in crashes if window.start_s <= at < window.end_s),
        **asdict(signals),
    )


def _placement(target: fault_lib.Target) -> str:
    """``leader N, group coordinator N[, txn coordinator N]`` now (``?`` where the metadata
    does not say): a fault's effect depends on whether its node also hosts a coordinator."""
    parts = [("leader", fault_lib.input_leader), ("group coordinator", fault_lib.group_coordinator)]
    if target.transactional_ids:
        parts.append(("txn coordinator", fault_lib.txn_coordinator))
    found = []
    for label, where in parts:
        try:
            found.append(f"{label} {where(target)}")
        except Exception:  # a node still recovering from the previous fault
            found.append(f"{label} ?")
    return ", ".join(found)


def _faults(
    target: fault_lib.Target,
    cfg: RunConfig,
    producer: PacedProducer,
    reader: PredictionReader,
    service: subprocess.Popen[bytes],
    progress: Callable[[str], None],
) -> list[FaultWindow]:
    windows: list[FaultWindow] = []
    time.sleep(cfg.settle_s)
    for name in cfg.faults:
        progress(f"{cfg.guarantee.value}/{cfg.group_protocol}: {name}")
        placement = _placement(target)
        start = time.time()
        heal = ALL_FAULTS[name](target)
        windows.append(FaultWindow(name, start, heal, heal, placement))
        caught_up = partial(reader.have_all, set(producer.acked))
        _wait(caught_up, cfg.catch_up_timeout_s, service)
        try:
            fault_lib.wait_in_sync(target.admin_config)
        except BrokerError as exc:  # reported, and the next fault runs on what there is
            progress(f"{name}: {exc}")
        time.sleep(cfg.settle_s)
    return windows
