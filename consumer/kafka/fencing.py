"""A restarted exactly-once service ends its dead predecessor's open transactions first.

A SIGKILLed pod leaves its transaction open: records already written, no commit or abort.
read_committed subscribers cannot read past its first record (the last stable offset)
until it ends, and only two things end it: the transaction coordinator's timeout
(``KAFKA__CLIENT__TRANSACTION_TIMEOUT_MS``, checked every 10 s by the broker) or a producer
with the same transactional id calling ``init_transactions``, which fences the old one and
aborts its transaction at once. With a stable ``KAFKA__INSTANCE_ID`` (the pod's name) the
restarted pod's ids are its predecessor's, and ``moodstream run`` fences every worker
slot's id here, before it loads and warms its models (up to minutes), instead of leaving
it to each worker's own ``init_transactions`` after its warm-up. RELIABILITY.md,
"A lost pod".
"""

from __future__ import annotations

import logging
import time

from consumer.kafka.clients import create_producer, transactional_id
from consumer.logs import log_event
from consumer.settings import Guarantee, Settings

_log = logging.getLogger("moodstream.kafka.fencing")


def fence_predecessors(settings: Settings, bootstrap: str, workers: int) -> list[str]:
    """Run ``init_transactions`` with each worker slot's stable transactional id (exactly-
    once with ``KAFKA__INSTANCE_ID`` set; else nothing to fence: returns []). Returns the
    ids fenced. Blocks up to ``KAFKA__CONNECT_TIMEOUT_S`` in all while the coordinator
    does not answer (the first slot that fails ends the fencing); never raises for a Kafka
    error (logged as ``fence_failed``: each worker's own ``init_transactions`` fences its
    id later, or the broker's timeout ends the transaction)."""
    from confluent_kafka import KafkaException

    if settings.processing.guarantee is not Guarantee.EXACTLY_ONCE:
        return []
    if not settings.kafka.instance_id:
        return []
    fenced: list[str] = []
    for index in range(workers):
        txn_id = transactional_id(settings, index)
        started = time.monotonic()
        producer = create_producer(settings, bootstrap, index)
        try:
            producer.init_transactions(settings.kafka.connect_timeout_s)
        except KafkaException as exc:
            log_event(_log, "fence_failed", level=logging.WARNING, transactional_id=txn_id,
                      error=str(exc.args[0]) if exc.args else repr(exc))  # fmt: skip
            break  # the coordinator does not answer: the other slots would wait as long
        finally:
            del producer  # destroyed here, its threads joined: the workers fork later
        fenced.append(txn_id)
        log_event(_log, "transactional_id_fenced", transactional_id=txn_id,
                  ms=round((time.monotonic() - started) * 1000, 1))  # fmt: skip
    return fenced
