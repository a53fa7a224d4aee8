"""``moodstream demo``: from nothing to predictions on screen, then a summary.

It stops everything it started, whatever ends it: the end of the events, Ctrl-C,
SIGTERM or SIGHUP (exit 130, 143, 129 after the summary), or its own death (the children
get SIGTERM from the kernel).

Starts the local broker unless a cluster is configured, creates the topics, runs the
service (``moodstream run``) and the synthetic producer as child processes, shows a live
view of throughput, latency, lag, dead letters, timeouts and memory, and ends with a
summary line. ``--forever`` keeps producing until Ctrl-C. ``--samples USERS`` also runs
the windows stage (``run --stage windows``) and sends minute samples of USERS synthetic
users (``produce --samples``): weeks assembled from minutes, scored with their coverage
(consumer.demo.weeks).
"""

from __future__ import annotations

import argparse
import math
import os
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from consumer.commands.conventions import deprecated_option
from consumer.demo.procs import Child, Stopped, signals_ignored, stop_signals
from consumer.demo.view import DemoTally, scrape
from consumer.demo.weeks import DAYS, WeeksSide, samples_argv, windows_argv
from consumer.errors import ConfigError
from consumer.settings import Settings

REFRESH_S = 1.0
READY_TIMEOUT_S = 120.0


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
    parser.add_argument(
        "--samples",
        type=int,
        default=0,
        metavar="USERS",
        help="also run the windows stage and send minute samples of USERS synthetic users "
        f"over {DAYS} local days: weeks from minutes, scored with their coverage (default 0)",
    )
    parser.add_argument("--seed", type=int, default=None, help="producer seed (default: time)")
    parser.add_argument("--forever", action="store_true", help="keep producing until Ctrl-C")
    parser.add_argument(
        "--timeout-s",
        dest="timeout",
        type=float,
        default=300.0,
        metavar="S",
        help="give up after S seconds (default 300)",
    )
    deprecated_option(parser, "--timeout", "--timeout-s", "timeout")
    parser.set_defaults(handler=handle)


def _check(args: argparse.Namespace) -> None:
    if not (math.isfinite(args.rate) and args.rate > 0):
        raise ConfigError("--rate must be a finite number of events per second > 0")
    if args.count < 1:
        raise ConfigError("--count must be >= 1")
    if args.workers < 1:
        raise ConfigError("--workers must be >= 1")
    if args.samples < 0:
        raise ConfigError("--samples must be >= 0 users")
    if not 0.0 <= args.activity_share <= 1.0:
        raise ConfigError("--activity-share must be within [0, 1]")
    if not (math.isfinite(args.timeout) and args.timeout > 0):
        raise ConfigError("--timeout-s must be a finite number of seconds > 0")


def handle(args: argparse.Namespace, settings: Settings) -> int:
    """Blocks until done, interrupted or timed out. Raises ConfigError, BrokerError,
    KafkaSetupError; returns 0, 1 (incomplete or the service failed), 128+signal."""
    from consumer.kafka.config import client_config
    from consumer.kafka.topics_plan import ensure_topics
    from consumer.localkafka.broker import LocalBroker

    _check(args)
    broker = LocalBroker(settings.broker)
    started_broker = False
    bootstrap = settings.kafka.bootstrap_servers.strip()
    try:
        with stop_signals():
            if not bootstrap:
                started_broker = not broker.status().running
                print("starting the local Kafka broker…" if started_broker else "using the broker")
                bootstrap = broker.start().bootstrap_servers
            ensure_topics(
                client_config(settings.kafka, bootstrap),
                settings.topics,
                settings.kafka.connect_timeout_s,
            )
            return _run_demo(args, settings, bootstrap)
    except (Stopped, KeyboardInterrupt) as exc:
        return 128 + (exc.signum if isinstance(exc, Stopped) else signal.SIGINT)
    finally:
        if started_broker:
            with signals_ignored():
                broker.stop()
            print("stopped the local broker")


def _child_env(bootstrap: str, port: int) -> dict[str, str]:
    env = dict(os.environ)
    env["MOODSTREAM_KAFKA__BOOTSTRAP_SERVERS"] = bootstrap
    env["MOODSTREAM_OBSERVABILITY__PORT"] = str(port)
    return env


def _producer_argv(args: argparse.Namespace, seed: int) -> list[str]:
    count = 10**9 if args.forever else args.count
    return [
        *(sys.executable, "-m", "consumer", "produce", "--synthetic"),
        *("--count", str(count), "--rate", str(args.rate), "--seed", str(seed)),
        *("--activity-share", str(args.activity_share), "--json"),
    ]


def _run_demo(args: argparse.Namespace, settings: Settings, bootstrap: str) -> int:
    seed = args.seed if args.seed is not None else int(time.time())
    tally = DemoTally(None if args.forever else args.count, time.monotonic())
    weeks = WeeksSide(args.samples, seed, settings.observability.port + 1) if args.samples else None
    port = settings.observability.port
    env = _child_env(bootstrap, port)
    children: list[Child] = []
    stopped: BaseException | None = None
    with tempfile.TemporaryDirectory(prefix="moodstream-demo-") as tmp:
        try:
            service = Child.start(
                "service",
                [sys.executable, "-m", "consumer", "run", "--workers", str(args.workers)],
                env,
                Path(tmp) / "service.err",
            )
            children.append(service)
            print(f"starting {args.workers} worker(s); waiting until they are ready…", flush=True)
            if not service.wait_ready(port, READY_TIMEOUT_S):
                return service.not_ready()
            if weeks is not None:
                state = Path(tmp) / "windows-state"
                windows_env = weeks.env(env, state)
                windows = Child.start(
                    "windows stage", windows_argv(), windows_env, Path(tmp) / "windows.err"
                )
                children.append(windows)
                print("starting the windows stage; waiting until it is ready…", flush=True)
                if not windows.wait_ready(weeks.port, READY_TIMEOUT_S):
                    return windows.not_ready()
            tally.since_ms = int(time.time() * 1000)  # the producer's records are newer
            tally.started_at = time.monotonic()  # rates count from the first event
            children.append(Child.start("producer", _producer_argv(args, seed), env, None))
            what = "until Ctrl-C" if args.forever else f"{args.count} events"
            print(f"producing {what} at {args.rate:g}/s", flush=True)
            if weeks is not None:
                samples = samples_argv(args.samples, seed)
                children.append(Child.start("samples", samples, env, None))
                print(f"sending minute samples of {args.samples} users, {DAYS} days", flush=True)
            _watch(tally, settings, bootstrap, args, service, weeks)
        except (Stopped, KeyboardInterrupt) as exc:
            stopped = exc
            print("\nstopping…", flush=True)
        finally:
            with signals_ignored():
                bound_s = settings.processing.shutdown_timeout_s + 15
                codes = {c.name: c.stop(bound_s) for c in children}
        error = children[0].error_line() if children else None
        if weeks is not None:
            print(weeks.tally.summary(weeks.totals))
        return _finish(tally, args, codes.get("service", 0), error, stopped)


def _watch(
    tally: DemoTally,
    settings: Settings,
    bootstrap: str,
    args: argparse.Namespace,
    service: Child,
    weeks: WeeksSide | None,
) -> None:
    from confluent_kafka import Consumer

    from consumer.kafka.config import client_config, new_client

    topics = settings.topics
    conf: dict[str, Any] = dict(client_config(settings.kafka, bootstrap))
    conf.update(
        {
            "group.id": f"demo-view-{os.getpid()}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    reader = new_client(Consumer, conf)
    reader.subscribe([topics.features, topics.predictions, topics.alerts, topics.dlq])
    deadline = time.monotonic() + args.timeout
    next_frame = time.monotonic()
    port = settings.observability.port
    try:
        while args.forever or (not _done(tally, weeks) and time.monotonic() < deadline):
            if service.process.poll() is not None:
                print(f"\nthe service exited with {service.process.returncode}")
                return
            for msg in reader.consume(num_messages=2000, timeout=0.2):
                if msg.error() is None:
                    _account(tally, msg, topics, weeks)
            if time.monotonic() >= next_frame:
                next_frame += REFRESH_S
                _frame(tally, port, weeks)
        _frame(tally, port, weeks)
    finally:
        reader.close()
        print()


def _done(tally: DemoTally, weeks: WeeksSide | None) -> bool:
    return tally.done() and (weeks is None or weeks.done())


def _account(tally: DemoTally, msg: Any, topics: Any, weeks: WeeksSide | None = None) -> None:
    """Count one record; earlier runs' records are ignored (by event_id, or by time)."""
    topic, ts_ms = msg.topic(), msg.timestamp()[1]
    if weeks is not None and ts_ms >= tally.since_ms and weeks.account(msg, topics):
        return  # the windows stage's own event or dead letter
    if topic == topics.features:
        tally.input_record(msg.value(), ts_ms)
    elif topic == topics.predictions:
        tally.prediction(msg.value(), ts_ms)
    elif topic == topics.alerts and ts_ms >= tally.since_ms:
        tally.alert(msg.value())
    elif ts_ms >= tally.since_ms:
        tally.dead += 1


def _frame(tally: DemoTally, port: int, weeks: WeeksSide | None) -> None:
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
    if weeks is not None:
        weeks.totals = scrape(weeks.port).totals or weeks.totals
        line += weeks.tally.line()
    if sys.stdout.isatty():
        print("\r" + line.ljust(150), end="", flush=True)
    else:
        print(line, flush=True)


def _ms(value: float | None) -> str:
    return "   -  " if value is None else f"{value:5.0f}ms"


def _finish(
    tally: DemoTally,
    args: argparse.Namespace,
    service_code: int,
    service_error: str | None,
    stopped: BaseException | None,
) -> int:
    """Print the summary; the exit code: 128+signal when stopped, else 0 when complete."""
    p50, p99 = tally.percentile_ms(0.5), tally.percentile_ms(0.99)
    planned = "" if args.forever else f" of {args.count} planned"
    unreadable = f", unreadable records {tally.unreadable}" if tally.unreadable else ""
    first = tally.first_prediction_after_ms()
    first_text = "-" if first is None else f"{first}ms"
    print(
        f"summary: events in {tally.consumed}{planned}, predictions out {len(tally.predicted)} "
        f"({tally.partial} partial), dead letters {tally.dead}, alerts "
        f"{tally.alerts_by_kind()}{unreadable}, latency p50 {_ms(p50).strip()} "
        f"p99 {_ms(p99).strip()}, first prediction {first_text} after the first event, "
        f"service exit {service_code}"
    )
    if service_code not in (0, -signal.SIGTERM) and service_error:
        print(f"the service said: {service_error}")
    print("demo models are trained on synthetic data and are NOT clinically valid")
    if stopped is not None:
        return 128 + (stopped.signum if isinstance(stopped, Stopped) else signal.SIGINT)
    return 0 if tally.done() and service_code == 0 else 1
