"""``moodstream produce``: the reference upstream producer.

``--synthetic`` generates plausible events; ``--samples`` minute-level activity samples
and day features for the windows stage (``run --stage windows``); ``--from FILE`` (``-``
for stdin) sends JSON lines, one event per line, after validating each with the service's
own decoder: a line that would be dead-lettered is refused, counted by reason and never
sent.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from consumer.commands import plain_text
from consumer.errors import ConfigError
from consumer.settings import Settings

if TYPE_CHECKING:
    from confluent_kafka import Producer


def register(sub: Any) -> None:
    parser = sub.add_parser(
        "produce",
        help="publish FeatureEvents to the input topic (synthetic, or JSON lines)",
        description=plain_text(__doc__) if __doc__ else None,
    )
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument(
        "--synthetic", action="store_true", help="generate plausible synthetic events"
    )
    source.add_argument(
        "--samples",
        action="store_true",
        help="minute-level activity samples of --users users over --days local days to "
        "TOPICS__ACTIVITY and their day features to TOPICS__DAY_FEATURES (the windows stage's "
        "inputs; gaps, lateness, duplicates, conflicting re-sends, three time zones)",
    )
    source.add_argument(
        "--from",
        dest="from_file",
        metavar="FILE",
        help="JSON lines, one event each ('-' reads stdin); invalid lines are refused",
    )
    parser.add_argument("--count", type=int, default=1000, help="synthetic events (default 1000)")
    parser.add_argument("--rate", type=float, default=None, help="events per second (default: max)")
    parser.add_argument(
        "--activity-share",
        type=float,
        default=0.0,
        help="share of synthetic events carrying a week of minute activity (0-1)",
    )
    parser.add_argument("--seed", type=int, default=42, help="random seed (same seed, same events)")
    parser.add_argument("--users", type=int, default=200, help="distinct synthetic users")
    parser.add_argument("--days", type=int, default=9, help="--samples: local days per user")
    parser.add_argument(
        "--format",
        choices=("json", "avro", "protobuf", "json_schema"),
        default="json",
        help="record format: json (default) or the Schema Registry wire format in that schema "
        "(registered under <TOPICS__FEATURES>-value at the first record)",
    )
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
    refused: dict[str, int] = field(default_factory=dict)


def _check(args: argparse.Namespace) -> None:
    if args.count < 0:
        raise ConfigError("--count must be >= 0")
    if args.rate is not None and not (math.isfinite(args.rate) and args.rate > 0):
        raise ConfigError("--rate must be a finite number > 0")
    if not 0.0 <= args.activity_share <= 1.0:
        raise ConfigError("--activity-share must be within [0, 1]")
    if args.users < 1:
        raise ConfigError("--users must be >= 1")
    if args.days < 1:
        raise ConfigError("--days must be >= 1")


def handle(args: argparse.Namespace, settings: Settings) -> int:
    """Blocks until every record is acknowledged. Exit 0 when all were sent and none
    refused, 1 otherwise. Raises ConfigError, KafkaSetupError (cluster or topic)."""
    _check(args)
    if args.from_file is not None:
        from consumer.producer.event_lines import Refusals

        refusals = Refusals()
        with _lines(args.from_file) as lines:
            summary = produce_lines(
                settings, lines, rate=args.rate, refusals=refusals, value_format=args.format
            )
        for line, reason, why in refusals.samples:
            print(f"refused line {line}: {reason}: {why}", file=sys.stderr)
    elif args.samples:
        summary = produce_samples(settings, users=args.users, days=args.days, seed=args.seed)
    else:
        summary = produce_synthetic(
            settings,
            count=args.count,
            rate=args.rate,
            activity_share=args.activity_share,
            seed=args.seed,
            users=args.users,
            value_format=args.format,
        )
    if args.json:
        print(json.dumps(asdict(summary)))
    else:
        print(_human(summary))
    return 0 if summary.failed == 0 and not summary.refused else 1


def _human(summary: ProduceSummary) -> str:
    refused = sum(summary.refused.values())
    why = ", ".join(f"{reason} {n}" for reason, n in sorted(summary.refused.items()))
    return (
        f"produced {summary.acknowledged}/{summary.sent} events to {summary.topic} "
        f"({summary.with_activity} with activity, {summary.failed} failed"
        + (f", {refused} refused: {why}" if refused else "")
        + f") in {summary.seconds:.2f} s ({summary.events_per_s:.0f} events/s)"
    )


@contextmanager
def _lines(name: str) -> Iterator[Iterable[bytes]]:
    if name == "-":
        yield sys.stdin.buffer
        return
    try:
        with Path(name).open("rb") as handle:
            yield handle
    except OSError as exc:
        raise ConfigError(f"cannot read --from {name}: {exc.strerror}") from None


def produce_samples(settings: Settings, *, users: int, days: int, seed: int) -> ProduceSummary:
    """The day features (to TOPICS__DAY_FEATURES), then the samples (to TOPICS__ACTIVITY)
    of ``SyntheticSamples``; blocks until all are acknowledged. The summary counts both
    (``with_activity``: the samples)."""
    from consumer.producer.synthetic_samples import SamplesPlan, SyntheticSamples

    source = SyntheticSamples(seed, SamplesPlan(users=users, days=days))
    topics = settings.topics
    sender = _Sender(settings, topics=(topics.day_features, topics.activity))
    for key, value in source.day_features:
        sender.send(key, value, None)
    sender.topic = topics.activity
    for record in source.samples:
        sender.send(record.key, record.value, None)
    summary = sender.finish(len(source.samples), {})
    summary.topic = f"{topics.day_features}+{topics.activity}"
    return summary


def _producer(settings: Settings, topics: tuple[str, ...]) -> Producer:
    """An idempotent producer, after the cluster answered and ``topics`` exist.
    Blocks up to KAFKA__CONNECT_TIMEOUT_S; raises KafkaSetupError, ConfigError."""
    from confluent_kafka import Producer

    from consumer.commands import bootstrap_for
    from consumer.kafka.admin import require_topics, wait_for_cluster
    from consumer.kafka.config import client_config, new_client

    config = client_config(settings.kafka, bootstrap_for(settings))
    timeout_s = settings.kafka.connect_timeout_s
    metadata = wait_for_cluster(config, timeout_s)
    roles = {role: name for role, name in _roles(settings).items() if name in topics}
    require_topics(config, roles, metadata, timeout_s)
    conf = dict(config)
    conf.update(
        {"enable.idempotence": True, "acks": "all", "linger.ms": 5, "compression.type": "lz4"}
    )
    return new_client(Producer, conf)


class _Sender:
    """Queues records with backpressure and counts acknowledgements."""

    def __init__(
        self, settings: Settings, value_format: str = "json", *, topics: tuple[str, ...] = ()
    ) -> None:
        self.topic = topics[0] if topics else settings.topics.features
        self.producer = _producer(settings, topics or (self.topic,))
        self._encode = _encoder(settings, value_format)
        self.sent = self.acked = 0
        self.started = time.monotonic()

    def _delivered(self, err: Any, _msg: Any) -> None:
        self.acked += err is None

    def send(self, key: bytes, value: bytes, rate: float | None) -> None:
        from consumer.kafka.clients import produce_waiting

        if rate is not None:
            _pace(self.started, self.sent, rate, self.producer)
        produce_waiting(
            self.producer,
            self.topic,
            key=key,
            value=self._encode(value),
            on_delivery=self._delivered,
        )
        self.producer.poll(0)
        self.sent += 1

    def finish(self, with_activity: int, refused: dict[str, int]) -> ProduceSummary:
        """Wait (up to 60 s) for the acknowledgements; undelivered ones count as failed."""
        self.producer.flush(60)
        seconds = time.monotonic() - self.started
        return ProduceSummary(
            self.topic,
            self.sent,
            self.acked,
            self.sent - self.acked,
            with_activity,
            round(seconds, 3),
            round(self.sent / seconds, 1) if seconds > 0 else 0.0,
            refused,
        )


def _roles(settings: Settings) -> dict[str, str]:
    return {"features": settings.topics.features} | settings.topics.windows_by_role()


def _encoder(settings: Settings, value_format: str) -> Callable[[bytes], bytes]:
    """JSON event bytes -> the record value in ``value_format`` (identity for json)."""
    if value_format == "json":
        return lambda value: value
    if not settings.schema_registry.url:
        raise ConfigError(f"--format {value_format} needs MOODSTREAM_SCHEMA_REGISTRY__URL")
    from consumer.schema_registry.client import create_client
    from consumer.schema_registry.encoding import RegistryEncoder

    client = create_client(settings.schema_registry)
    encoder = RegistryEncoder(client, value_format, settings.topics.features)
    return lambda value: encoder.encode(orjson.loads(value))


def produce_synthetic(
    settings: Settings,
    *,
    count: int,
    rate: float | None,
    activity_share: float,
    seed: int,
    users: int = 200,
    value_format: str = "json",
) -> ProduceSummary:
    """Send ``count`` events, paced at ``rate``/s when given; blocks until all are acknowledged."""
    from consumer.producer.synthetic_events import SyntheticEvents

    sender = _Sender(settings, value_format)
    source = SyntheticEvents(seed, users=users, activity_share=activity_share)
    with_activity = 0
    for _ in range(count):
        record = source.next_record(datetime.now().astimezone())
        with_activity += record.has_activity
        sender.send(record.key, record.value, rate)
    return sender.finish(with_activity, {})


def produce_lines(
    settings: Settings,
    lines: Iterable[bytes],
    *,
    rate: float | None,
    refusals: Any,
    value_format: str = "json",
) -> ProduceSummary:
    """Send every valid event of ``lines`` (JSON lines) keyed by its ``user_id``; refused
    lines are counted in ``refusals`` (an ``event_lines.Refusals``). Blocks until all
    are acknowledged."""
    from consumer.producer.event_lines import valid_records

    sender = _Sender(settings, value_format)
    processing = settings.processing
    with_activity = 0
    for record in valid_records(
        lines,
        max_bytes=processing.max_message_bytes,
        strict_fields=processing.strict_fields,
        refusals=refusals,
    ):
        with_activity += record.has_activity
        sender.send(record.key, record.value, rate)
    return sender.finish(with_activity, dict(sorted(refusals.by_reason.items())))


def _pace(started: float, index: int, rate: float, producer: Any) -> None:
    due = started + index / rate
    while (wait := due - time.monotonic()) > 0:
        producer.poll(min(wait, 0.05))
