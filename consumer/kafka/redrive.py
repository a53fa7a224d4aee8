"""Send dead letters back to the input topic (``moodstream dlq redrive``).

Reads the dead-letter topic from the redrive group's committed offsets up to its end
(as of the start), keeps the records whose ``error.class`` header matches the reason
(all when none is given), produces their original key and value to the input topic,
waits for every acknowledgement, then commits how far it read. Progress lives in the
consumer group ``<KAFKA__GROUP_ID>.redrive.<reason|all>``: running the same command
again sends only dead letters that arrived since (idempotent for the same range). A
crash between the acknowledgements and the commit can send that range once more.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from consumer.errors import KafkaSetupError

if TYPE_CHECKING:
    from confluent_kafka import Consumer, Message

    from consumer.settings import Settings

ERROR_CLASS = "error.class"
REDRIVEN_FROM = "redrive.source"
_IDLE_S = 1.0


@dataclass
class RedriveSummary:
    source: str
    target: str
    group: str
    reason: str | None
    read: int = 0
    redriven: int = 0
    failed: int = 0
    other_reasons: Counter[str] = field(default_factory=Counter)
    committed: dict[int, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "target": self.target,
            "group": self.group,
            "reason": self.reason,
            "read": self.read,
            "redriven": self.redriven,
            "failed": self.failed,
            "skipped_by_reason": dict(sorted(self.other_reasons.items())),
            "committed": {str(p): o for p, o in sorted(self.committed.items())},
        }


def error_class(reason: str | None) -> str | None:
    """``too_large`` -> ``InvalidEvent.too_large``; a full class is kept. Pure."""
    if reason is None or "." in reason:
        return reason
    return f"InvalidEvent.{reason}"


def redrive_group(settings: Settings, reason: str | None) -> str:
    return f"{settings.kafka.group_id}.redrive.{reason or 'all'}"


def redrive(
    settings: Settings,
    bootstrap: str,
    *,
    reason: str | None,
    timeout_s: float,
    dry_run: bool = False,
) -> RedriveSummary:
    """Redrive the dead letters of ``reason`` (None: all). Blocks up to about
    ``timeout_s`` for the cluster, then until the end of the topic is read and every
    record acknowledged. Raises KafkaSetupError (cluster, missing topic, an unreadable
    end), ConfigError (settings the client refuses)."""
    from confluent_kafka import Consumer, Producer

    from consumer.kafka.admin import require_topics, wait_for_cluster
    from consumer.kafka.config import client_config, new_client

    config = client_config(settings.kafka, bootstrap)
    topics = settings.topics
    metadata = wait_for_cluster(config, timeout_s)
    require_topics(config, {"dlq": topics.dlq, "features": topics.features}, metadata, timeout_s)
    summary = RedriveSummary(topics.dlq, topics.features, redrive_group(settings, reason), reason)
    quiet = logging.Logger("moodstream.redrive.librdkafka")
    quiet.addHandler(logging.NullHandler())
    consumer: Consumer = new_client(
        Consumer,
        {
            **config,
            "group.id": summary.group,
            "enable.auto.commit": False,
            "enable.partition.eof": True,
            "auto.offset.reset": "earliest",
            "isolation.level": "read_committed",
            "logger": quiet,
        },
    )
    producer = (
        None
        if dry_run
        else new_client(
            Producer, {**config, "enable.idempotence": True, "linger.ms": 5, "logger": quiet}
        )
    )
    try:
        partitions = sorted(metadata.topics[topics.dlq].partitions)
        _copy(consumer, producer, partitions, summary, timeout_s)
        if producer is not None:
            _finish(consumer, producer, summary)
    finally:
        consumer.close()
    return summary


def _copy(
    consumer: Consumer,
    producer: Any,
    partitions: list[int],
    summary: RedriveSummary,
    timeout_s: float,
) -> None:
    """Read every partition to its end (EOF), queueing the matching records."""
    from confluent_kafka import KafkaError, TopicPartition

    wanted = error_class(summary.reason)
    consumer.assign([TopicPartition(summary.source, p) for p in partitions])
    pending, deadline = set(partitions), time.monotonic() + timeout_s
    while pending:
        if time.monotonic() > deadline:
            raise KafkaSetupError(
                f"could not read {summary.source} to its end within {timeout_s:g} s "
                f"(partitions {sorted(pending)} left); nothing was committed"
            )
        for msg in consumer.consume(num_messages=500, timeout=_IDLE_S):
            error = msg.error()
            if error is not None and error.code() == KafkaError._PARTITION_EOF:
                pending.discard(msg.partition() or 0)
                summary.committed[msg.partition() or 0] = msg.offset() or 0
            elif error is None:
                summary.committed[msg.partition() or 0] = (msg.offset() or 0) + 1
                _one(msg, producer, summary, wanted)


def _one(msg: Message, producer: Any, summary: RedriveSummary, wanted: str | None) -> None:
    from consumer.kafka.clients import produce_waiting

    summary.read += 1
    headers = dict(msg.headers() or [])
    raw = headers.get(ERROR_CLASS) or b""
    found = raw.decode("utf-8", errors="replace") if isinstance(raw, bytes) else raw
    if wanted is not None and found != wanted:
        summary.other_reasons[found.removeprefix("InvalidEvent.") or "?"] += 1
        return
    summary.redriven += 1
    if producer is None:
        return
    origin = f"{msg.topic()}/{msg.partition()}/{msg.offset()}".encode()

    def delivered(err: Any, _m: Any) -> None:
        summary.failed += err is not None

    produce_waiting(
        producer,
        summary.target,
        key=msg.key(),
        value=msg.value(),
        headers=[(REDRIVEN_FROM, origin), (ERROR_CLASS, found.encode())],
        on_delivery=delivered,
    )


def _finish(consumer: Consumer, producer: Any, summary: RedriveSummary) -> None:
    """Wait for the acknowledgements, then commit how far each partition was read."""
    from confluent_kafka import TopicPartition

    left = producer.flush(60)
    if left or summary.failed:
        summary.failed = max(summary.failed, left)
        raise KafkaSetupError(
            f"{summary.failed} of {summary.redriven} redriven records were not acknowledged "
            f"by {summary.target}; progress not committed: run the command again"
        )
    offsets = [TopicPartition(summary.source, p, o) for p, o in summary.committed.items()]
    if offsets:
        consumer.commit(offsets=offsets, asynchronous=False)
