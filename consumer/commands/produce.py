"""``moodstream produce --synthetic``: the reference upstream producer."""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from consumer.errors import ConfigError
from consumer.settings import Settings


def register(sub: Any) -> None:
    parser = sub.add_parser("produce", help="publish synthetic FeatureEvents to the input topic")
    parser.add_argument(
        "--synthetic",
        action="store_true",
        required=True,
        help="generate plausible synthetic events (the only source for now)",
    )
    parser.add_argument("--count", type=int, default=1000, help="events to send (default 1000)")
    parser.add_argument("--rate", type=float, default=None, help="events per second (default: max)")
    parser.add_argument(
        "--activity-share",
        type=float,
        default=0.0,
        help="share of events carrying a week of minute activity (0-1)",
    )
    parser.add_argument("--seed", type=int, default=42, help="random seed (same seed, same events)")
    parser.add_argument("--users", type=int, default=200, help="distinct synthetic users")
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")
    parser.set_defaults(handler=handle)


@dataclass
class ProduceSummary:
    topic: str
    sent: int
    acknowledged: int
    failed: int
    with_activity: int
    seconds: float
    events_per_s: float


def handle(args: argparse.Namespace, settings: Settings) -> int:
    if args.count < 0:
        raise ConfigError("--count must be >= 0")
    if args.rate is not None and args.rate <= 0:
        raise ConfigError("--rate must be > 0")
    if not 0.0 <= args.activity_share <= 1.0:
        raise ConfigError("--activity-share must be within [0, 1]")
    summary = produce_synthetic(
        settings,
        count=args.count,
        rate=args.rate,
        activity_share=args.activity_share,
        seed=args.seed,
        users=args.users,
    )
    if args.json:
        print(json.dumps(asdict(summary)))
    else:
        print(
            f"produced {summary.acknowledged}/{summary.sent} events to {summary.topic} "
            f"({summary.with_activity} with activity, {summary.failed} failed) in "
            f"{summary.seconds:.2f} s ({summary.events_per_s:.0f} events/s)"
        )
    return 0 if summary.failed == 0 else 1


def produce_synthetic(
    settings: Settings,
    *,
    count: int,
    rate: float | None,
    activity_share: float,
    seed: int,
    users: int = 200,
) -> ProduceSummary:
    """Send ``count`` events, paced at ``rate``/s when given; blocks until all are acknowledged."""
    from confluent_kafka import Producer

    from consumer.kafka.clients import produce_waiting
    from consumer.kafka.config import client_config, resolve_bootstrap
    from consumer.synthetic_events import SyntheticEvents

    conf = dict(client_config(settings.kafka, resolve_bootstrap(settings)))
    conf.update(
        {"enable.idempotence": True, "acks": "all", "linger.ms": 5, "compression.type": "lz4"}
    )
    producer = Producer(conf)
    source = SyntheticEvents(seed, users=users, activity_share=activity_share)
    outcome = {"acked": 0, "failed": 0}

    def delivered(err: Any, _msg: Any) -> None:
        outcome["failed" if err is not None else "acked"] += 1

    topic = settings.topics.features
    started = time.monotonic()
    with_activity = 0
    for i in range(count):
        if rate is not None:
            _pace(started, i, rate, producer)
        record = source.next_record(datetime.now().astimezone())
        with_activity += record.has_activity
        produce_waiting(producer, topic, key=record.key, value=record.value, on_delivery=delivered)
        producer.poll(0)
    producer.flush(60)
    seconds = time.monotonic() - started
    return ProduceSummary(
        topic,
        count,
        outcome["acked"],
        count - outcome["acked"],
        with_activity,
        round(seconds, 3),
        round(count / seconds, 1) if seconds > 0 else 0.0,
    )


def _pace(started: float, index: int, rate: float, producer: Any) -> None:
    due = started + index / rate
    while (wait := due - time.monotonic()) > 0:
        producer.poll(min(wait, 0.05))
