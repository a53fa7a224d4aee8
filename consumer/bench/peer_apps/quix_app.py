"""The plain scoring job in Quix Streams, written the way its docs build a batching sink:
an ``Application`` reads the features topic (JSON values) into a ``StreamingDataFrame``
whose ``BatchingSink`` scores each partition's batch at the checkpoint and produces the
predictions, flushed before the checkpoint commits (at-least-once).

Run with the quix peer venv's python (``moodstream bench --peers`` does); SIGTERM stops
it cleanly. Prints ``first_consumed_unix=<time>`` when the sink is given its first record.
"""

from __future__ import annotations

from typing import Any

from confluent_kafka import Producer
from peer_common import Scorer, parse_args, producer_config
from quixstreams import Application
from quixstreams.sinks.base import BatchingSink


class ScoringSink(BatchingSink):  # type: ignore[misc]
    def __init__(self, scorer: Scorer, producer: Producer, output: str) -> None:
        super().__init__()
        self.scorer = scorer
        self.producer = producer
        self.output = output

    def add(self, *args: Any, **kwargs: Any) -> None:
        self.scorer.seen()
        super().add(*args, **kwargs)

    def write(self, batch: Any) -> None:
        """Score the batch, produce one prediction per record, wait for every ack."""
        items = list(batch)
        outputs = self.scorer.score([item.value for item in items])
        for item, out in zip(items, outputs, strict=True):
            self.producer.produce(self.output, out, key=item.key)
            self.producer.poll(0)
        if self.producer.flush(60) > 0:
            raise RuntimeError("predictions unacknowledged after 60 s")


def main() -> None:
    args = parse_args("the scoring job in Quix Streams")
    scorer = Scorer(args.models, args.min_present)
    app = Application(
        broker_address=args.bootstrap,
        consumer_group=args.group,
        auto_offset_reset="earliest",
        processing_guarantee="at-least-once",
        state_dir=str(args.state_dir) if args.state_dir else None,
        use_changelog_topics=False,
        loglevel="WARNING",
    )
    topic = app.topic(args.input, value_deserializer="json", key_deserializer="bytes")
    sink = ScoringSink(scorer, Producer(producer_config(args.bootstrap)), args.output)
    app.dataframe(topic).sink(sink)
    app.run()


if __name__ == "__main__":
    main()
