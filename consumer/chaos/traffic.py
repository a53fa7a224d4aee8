"""The chaos run's traffic: a paced producer and a prediction reader, each on its own thread.

Both record wall-clock times (``time.time()``). The producer never gives up on a record
within ``MESSAGE_TIMEOUT_MS`` (writes stall, not fail, while fewer than min ISR replicas
are in sync); it records the event_ids the cluster acknowledged and the ones it failed.
The reader assigns every partition of the predictions topic itself (no consumer group,
so no coordinator to lose) and reads with ``read_committed``, as a subscriber of the
exactly-once mode must. ``stop`` blocks until the thread ended (bounded).
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import orjson
from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition

from consumer.kafka.clients import produce_waiting
from consumer.producer.synthetic_events import SyntheticEvents

MESSAGE_TIMEOUT_MS = 300_000
JOIN_TIMEOUT_S = 60.0


def quiet_logger() -> logging.Logger:
    """A private logger that drops librdkafka's connection noise while brokers die."""
    logger = logging.Logger("moodstream.chaos.librdkafka", logging.CRITICAL)
    logger.addHandler(logging.NullHandler())
    logger.propagate = False
    return logger


class PacedProducer:
    """Produces synthetic events (features only) at ``rate_per_s`` until stopped."""

    def __init__(self, config: Mapping[str, Any], topic: str, rate_per_s: float) -> None:
        conf = dict(config)
        conf.update(
            {
                "enable.idempotence": True,
                "acks": "all",
                "linger.ms": 5,
                "message.timeout.ms": MESSAGE_TIMEOUT_MS,
                "logger": quiet_logger(),
            }
        )
        self._producer = Producer(conf)
        self._topic = topic
        self._rate = rate_per_s
        self._events = SyntheticEvents(random.randrange(1 << 30), users=200, activity_share=0.0)
        self.acked: dict[str, float] = {}
        self.failed: dict[str, str] = {}
        self.sent = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="chaos-producer", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Stop producing, then wait for every outstanding acknowledgement (bounded)."""
        self._stop.set()
        self._thread.join(JOIN_TIMEOUT_S + MESSAGE_TIMEOUT_MS / 1000)

    def _delivered(self, event_id: str) -> Any:
        def callback(err: KafkaError | None, _msg: Any) -> None:
            if err is None:
                self.acked[event_id] = time.time()
            else:
                self.failed[event_id] = err.str()

        return callback

    def _run(self) -> None:
        started = time.monotonic()
        while not self._stop.is_set():
            due = started + self.sent / self._rate
            while (wait := due - time.monotonic()) > 0 and not self._stop.is_set():
                self._producer.poll(min(wait, 0.05))
            record = self._events.next_record(datetime.now().astimezone())
            produce_waiting(
                self._producer,
                self._topic,
                key=record.key,
                value=record.value,
                on_delivery=self._delivered(record.event_id),
            )
            self.sent += 1
            self._producer.poll(0)
        self._producer.flush(MESSAGE_TIMEOUT_MS / 1000)


class PredictionReader:
    """Reads every partition of ``topic`` from the start; records (event_id, arrival time)."""

    def __init__(self, config: Mapping[str, Any], topic: str, partitions: int) -> None:
        conf = dict(config)
        conf.update(
            {
                "group.id": f"chaos-reader-{random.randrange(1 << 40)}",
                "enable.auto.commit": False,
                "isolation.level": "read_committed",
                "auto.offset.reset": "earliest",
                "logger": quiet_logger(),
            }
        )
        self._consumer = Consumer(conf)
        self._consumer.assign([TopicPartition(topic, p, 0) for p in range(partitions)])
        self.predictions: list[tuple[str, float]] = []
        self.arrivals_by_partition: dict[int, list[float]] = {}  # input partition -> times
        #: records read again at a position already read (the reader's own re-fetch after
        #: a broker fault, not a second record): skipped, counted
        self.rereads = 0
        #: (event_id, partition, offset) of every record whose event_id an earlier record
        #: at another position carried: the duplicates, located for a post-mortem
        self.duplicate_records: list[tuple[str, int, int]] = []
        self._positions: set[tuple[int, int]] = set()
        self._event_ids: set[str] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="chaos-reader", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(JOIN_TIMEOUT_S)

    def have_all(self, event_ids: set[str]) -> bool:
        seen = {event_id for event_id, _at in list(self.predictions)}
        return event_ids <= seen

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                for msg in self._consumer.consume(num_messages=500, timeout=0.2):
                    value = msg.value()
                    if msg.error() is None and value:
                        at = time.time()
                        position = (msg.partition() or 0, msg.offset() or 0)
                        if position in self._positions:
                            self.rereads += 1
                            continue
                        self._positions.add(position)
                        prediction = orjson.loads(value)
                        event_id = str(prediction.get("event_id"))
                        if event_id in self._event_ids:
                            self.duplicate_records.append((event_id, *position))
                        self._event_ids.add(event_id)
                        self.predictions.append((event_id, at))
                        source = prediction.get("source") or {}
                        partition = int(source.get("partition", -1))
                        self.arrivals_by_partition.setdefault(partition, []).append(at)
        finally:
            self._consumer.close()
