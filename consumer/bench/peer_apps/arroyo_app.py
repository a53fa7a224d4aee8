"""The plain scoring job in Arroyo, written the way its docs build a consumer:
``StreamProcessor`` → ``BatchStep(256, 0.02)`` → ``RunTask(score)`` → ``Unfold`` →
``Produce`` → ``CommitOffsets`` (at-least-once: offsets committed once produced).

Run with the arroyo peer venv's python (``moodstream bench --peers`` does); SIGTERM stops
it cleanly. Prints ``first_consumed_unix=<time>`` when it reads its first batch.
"""

from __future__ import annotations

import json
import signal
from collections.abc import Mapping
from typing import Any

from arroyo.backends.kafka import KafkaConsumer, KafkaPayload, KafkaProducer
from arroyo.backends.kafka.configuration import (
    build_kafka_consumer_configuration,
    build_kafka_producer_configuration,
)
from arroyo.commit import ONCE_PER_SECOND
from arroyo.processing import StreamProcessor
from arroyo.processing.strategies import (
    BatchStep,
    CommitOffsets,
    ProcessingStrategy,
    ProcessingStrategyFactory,
    Produce,
    RunTask,
    Unfold,
)
from arroyo.types import Commit, Message, Partition, Topic, Value
from peer_common import Scorer, parse_args, producer_config

BATCH_SIZE = 256
BATCH_TIME_S = 0.02


class ScoringFactory(ProcessingStrategyFactory[KafkaPayload]):  # type: ignore[misc]
    def __init__(self, scorer: Scorer, producer: Any, output: str) -> None:
        self.scorer = scorer
        self.producer = producer
        self.output = Topic(output)

    def score(self, message: Message[Any]) -> list[KafkaPayload]:
        self.scorer.seen()
        batch = message.payload
        events = [json.loads(value.payload.value) for value in batch]
        outputs = self.scorer.score(events)
        return [
            KafkaPayload(value.payload.key, out, [])
            for value, out in zip(batch, outputs, strict=True)
        ]

    def create_with_partitions(
        self, commit: Commit, partitions: Mapping[Partition, int]
    ) -> ProcessingStrategy[KafkaPayload]:
        produce = Produce(self.producer, self.output, CommitOffsets(commit))
        unfold = Unfold(lambda payloads: [Value(p, {}) for p in payloads], produce)
        return BatchStep(BATCH_SIZE, BATCH_TIME_S, RunTask(self.score, unfold))


def main() -> None:
    args = parse_args("the scoring job in Arroyo")
    scorer = Scorer(args.models, args.min_present)
    producer = KafkaProducer(build_kafka_producer_configuration(producer_config(args.bootstrap)))
    consumer = KafkaConsumer(
        build_kafka_consumer_configuration(
            {},
            group_id=args.group,
            auto_offset_reset="earliest",
            bootstrap_servers=[args.bootstrap],
        )
    )
    factory = ScoringFactory(scorer, producer, args.output)
    processor = StreamProcessor(consumer, Topic(args.input), factory, ONCE_PER_SECOND)
    signal.signal(signal.SIGTERM, lambda *_: processor.signal_shutdown())
    signal.signal(signal.SIGINT, lambda *_: processor.signal_shutdown())
    try:
        processor.run()
    finally:
        producer.close().result()


if __name__ == "__main__":
    main()
