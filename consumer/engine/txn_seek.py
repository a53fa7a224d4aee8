"""Rewinding the consumer after an aborted or replaced transaction, without ever going on
past an aborted batch.

A seek that fails for a partition this worker no longer owns (revoked, lost, deleted) is
skipped: its new owner reads from the group's committed offset. A seek that fails for a
partition it still owns cannot be skipped: the next transaction would commit offsets past
the aborted batch, whose events were never published (silent loss). Such a partition is
sought again at the group's committed offset (after an aborted transaction that is where
its batch began); if that fails too, ``RewindFailed`` restarts the worker, whose new
consumer starts at the committed offsets.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from consumer.engine.offsets import TopicPartitionKey
from consumer.engine.txn_clients import TxnConsumer
from consumer.engine.txn_rewind import rewind_targets
from consumer.errors import MoodstreamError
from consumer.logs import log_event

if TYPE_CHECKING:
    from confluent_kafka import TopicPartition

_log = logging.getLogger("moodstream.delivery")
#: (topic, partition, offset) to seek.
Target = tuple[str, int, int]
#: The group's committed offsets of some partitions (negative: none); blocks, raises
#: ``KafkaException``.
CommittedOffsets = Callable[[list["TopicPartition"]], dict[TopicPartitionKey, int]]


class RewindFailed(MoodstreamError):
    """A partition this worker still owns could not be rewound after an aborted batch;
    the worker restarts rather than commit past it."""


def seek_each(consumer: TxnConsumer, targets: list[Target]) -> tuple[list[int], dict[Target, str]]:
    """Seek every target. Returns the partitions rewound and, for each target whose seek
    failed while its partition is still assigned, the error; a partition no longer
    assigned is skipped. Does not block (a seek sets the next fetch position)."""
    from confluent_kafka import KafkaException, TopicPartition

    rewound: list[int] = []
    failed: dict[Target, str] = {}
    for target in targets:
        topic, partition, offset = target
        try:
            consumer.seek(TopicPartition(topic, partition, offset))
            rewound.append(partition)
        except KafkaException as exc:
            failed[target] = str(exc.args[0])
    if failed:
        owned = {(tp.topic, tp.partition) for tp in consumer.assignment()}
        failed = {t: error for t, error in failed.items() if (t[0], t[1]) in owned}
    return rewound, failed


def rewind(consumer: TxnConsumer, targets: list[Target], committed: CommittedOffsets) -> list[int]:
    """Seek every target (``seek_each``); seek the partitions still owned whose seek failed
    again at the group's committed offsets (the target's offset where none is committed).
    Returns the partitions rewound. Blocks while ``committed`` does; raises RewindFailed
    when an owned partition still cannot be rewound or its committed offset not read."""
    from confluent_kafka import KafkaException, TopicPartition

    rewound, failed = seek_each(consumer, targets)
    if not failed:
        return rewound
    log_event(_log, "rewind_seek_failed", level=logging.WARNING, failed=_described(failed))
    first = {(topic, partition): offset for topic, partition, offset in failed}
    try:
        offsets = committed([TopicPartition(topic, partition) for topic, partition in first])
    except KafkaException as exc:
        raise RewindFailed(_message(failed, f"committed offsets unread: {exc.args[0]}")) from exc
    again, still = seek_each(consumer, rewind_targets(offsets, first))
    if still:
        raise RewindFailed(_message(still, "the seek to the committed offset failed too"))
    return rewound + again


def _described(failed: dict[Target, str]) -> str:
    return ", ".join(f"{t}[{p}]@{o}: {error}" for (t, p, o), error in sorted(failed.items()))


def _message(failed: dict[Target, str], then: str) -> str:
    return (
        f"cannot rewind past an aborted batch ({_described(failed)}; {then}): restarting "
        "the worker, which resumes at the group's committed offsets"
    )
