"""``moodstream demo``: from nothing to predictions on screen, then a summary.

It stops everything it started.

Starts the local broker unless a cluster is configured, creates the topics, runs the
service (``moodstream run``) and the synthetic producer as child processes, shows a live
view of throughput, latency, lag, dead letters, timeouts and memory, and ends with a
summary line. ``--forever`` keeps producing until Ctrl-C.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from datetime import datetime
from typing import Any

import orjson

from consumer.demo_view import DemoTally, scrape
from consumer.settings import Settings

REFRESH_S = 1.0


def register(sub: Any) -> None:
    parser = sub.add_parser("demo", help="run everything locally and show predictions live")
    parser.add_argument("--count", type=int, default=2000, help="events to produce (default 2000)")
    parser.add_argument("--rate", type=float, default=200.0, help="events per second (default 200)")
    parser.add_argument("--workers", type=int, default=2, help="worker processes (default 2)")
    parser.add_argument(
        "--activity-share",
        type=float,
        default=0.05,
        help="share of events with a week of activity for PAT (default 0.05)",
    )
    parser.add_argument("--seed", type=int, default=None, help="producer seed (default: time)")
    parser.add_argument("--forever", action="store_true", help="keep producing until Ctrl-C")
    parser.add_argument("--timeout", type=float, default=300.0, help="give up after seconds")
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace, settings: Settings) -> int:
    from consumer.kafka.broker import LocalBroker
    from consumer.kafka.config import client_config
    from consumer.kafka.topics_plan import ensure_topics

    broker = LocalBroker(settings.broker)
    started_broker = False
    bootstrap = settings.kafka.bootstrap_servers.strip()
    if not bootstrap:
        started_broker = not broker.status().running
        print("starting the local Kafka broker…" if started_broker else "using the local broker")
        bootstrap = broker.start().bootstrap_servers
    try:
        ensure_topics(
            client_config(settings.kafka, bootstrap), settings.topics,
            settings.kafka.connect_timeout_s,
        )
        return _run_demo(args, settings, bootstrap)
    finally:
        if started_broker:
            broker.stop()
            print("stopped the local broker")


def _child_env(bootstrap: str, port: int) -> dict[str, str]:
    env = dict(os.environ)
    env["MOODSTREAM_KAFKA__BOOTSTRAP_SERVERS"] = bootstrap
    env["MOODSTREAM_OBSERVABILITY__PORT"] = str(port)
    return env


def _run_demo(args: argparse.Namespace, settings: Settings, bootstrap: str) -> int:
    from consumer.synthetic_events import SyntheticEvents

    seed = args.seed if args.seed is not None else int(time.time())
    count = 10**9 if args.forever else args.count
    ids = SyntheticEvents(seed, activity_share=args.activity_share)
    now = datetime.now().astimezone()
    expected = {ids.next_record(now).event_id for _ in range(min(count, 200_000))}
    port = settings.observability.port
    env = _child_env(bootstrap, port)
    me = [sys.executable, "-m", "consumer"]
    service = subprocess.Popen(
        [*me, "run", "--workers", str(args.workers)], env=env, stderr=subprocess.DEVNULL
    )
    print(f"starting {args.workers} worker(s); waiting until they are ready…")
    if not _wait_ready(port, service, timeout_s=120.0):
        service.send_signal(signal.SIGTERM)
        print(f"the service did not become ready (exit {service.wait(60)})")
        return 1
    producer = subprocess.Popen(
        [
            *me,
            "produce",
            "--synthetic",
            "--count",
            str(count),
            "--rate",
            str(args.rate),
            "--seed",
            str(seed),
            "--activity-share",
            str(args.activity_share),
            "--json",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    tally = DemoTally(expected=expected, started_at=time.monotonic())
    try:
        _watch(tally, settings, bootstrap, port, args.timeout, args.forever, service)
    except KeyboardInterrupt:
        print("\nstopping…")
    finally:
        for proc in (producer, service):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        producer.wait(30)
        service_code = service.wait(60)
    return _summary(tally, count if not args.forever else len(tally.predicted), service_code)


def _wait_ready(port: int, service: subprocess.Popen[bytes], timeout_s: float) -> bool:
    import urllib.error
    import urllib.request

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and service.poll() is None:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=1) as resp:
                if resp.status == 200:
                    return True
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.25)
    return False


def _watch(
    tally: DemoTally,
    settings: Settings,
    bootstrap: str,
    port: int,
    timeout_s: float,
    forever: bool,
    service: subprocess.Popen[bytes],
) -> None:
    from confluent_kafka import Consumer

    topics = settings.topics
    reader = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"demo-view-{os.getpid()}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    reader.subscribe([topics.features, topics.predictions, topics.alerts, topics.dlq])
    deadline = time.monotonic() + timeout_s
    since_ms = int(time.time() * 1000) - 1000
    next_frame = time.monotonic()
    try:
        while forever or (not tally.done() and time.monotonic() < deadline):
            if service.poll() is not None:
                print(f"\nthe service exited with {service.returncode}")
                return
            for msg in reader.consume(num_messages=2000, timeout=0.2):
                if msg.error() is None:
                    _account(tally, msg, topics, since_ms)
            if time.monotonic() >= next_frame:
                next_frame += REFRESH_S
                _frame(tally, port)
        _frame(tally, port)
    finally:
        reader.close()
        print()


def _account(tally: DemoTally, msg: Any, topics: Any, since_ms: int) -> None:
    """Count one record; earlier runs' records are ignored (by event_id, or by time)."""
    topic, ts_ms = msg.topic(), msg.timestamp()[1]
    if topic == topics.features:
        tally.produced(orjson.loads(msg.value())["event_id"], ts_ms)
    elif topic == topics.predictions:
        tally.prediction(msg.value(), ts_ms)
    elif topic == topics.alerts and ts_ms >= since_ms:
        tally.alert(msg.value())
    elif ts_ms >= since_ms:
        tally.dead += 1


def _frame(tally: DemoTally, port: int) -> None:
    elapsed = max(1e-6, time.monotonic() - tally.started_at)
    snapshot = scrape(port)
    metrics, memory = snapshot.totals, snapshot.memory_by_worker
    p50, p99 = tally.percentile_ms(0.5), tally.percentile_ms(0.99)
    mem = " ".join(f"w{k}={v / 2**20:.0f}MB" for k, v in sorted(memory.items())) or "-"
    line = (
        f"{elapsed:6.1f}s  in {tally.consumed / elapsed:6.0f}/s"
        f"  predicted {len(tally.predicted):6d}"
        f" ({len(tally.predicted) / elapsed:5.0f}/s)  p50 {_ms(p50)}  p99 {_ms(p99)}"
        f"  lag {metrics.get('moodstream_consumer_lag', 0):.0f}  dlq {tally.dead}"
        f"  timeouts {metrics.get('moodstream_model_timeouts_total', 0):.0f}  mem {mem}"
    )
    if sys.stdout.isatty():
        print("\r" + line.ljust(150), end="", flush=True)
    else:
        print(line, flush=True)


def _ms(value: float | None) -> str:
    return "   -  " if value is None else f"{value:5.0f}ms"


def _summary(tally: DemoTally, events: int, service_code: int) -> int:
    p50, p99 = tally.percentile_ms(0.5), tally.percentile_ms(0.99)
    print(
        f"summary: events in {events}, predictions out {len(tally.predicted)} "
        f"({tally.partial} partial), dead letters {tally.dead}, alerts "
        f"{sum(tally.alerts.values())}, latency p50 {_ms(p50).strip()} p99 {_ms(p99).strip()}, "
        f"service exit {service_code}"
    )
    print("demo models are trained on synthetic data and are NOT clinically valid")
    complete = len(tally.predicted) + tally.dead >= events
    return 0 if complete and service_code == 0 else 1
