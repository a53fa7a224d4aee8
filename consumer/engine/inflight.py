"""The batches whose models are still answering, published part by part as they answer.

A batch's sources are registered with the publisher when it starts (so offsets commit in
order whatever order its parts go out in); each part is published as soon as its events'
models have all answered; the batch ends (``Publisher.end``: the transaction commits in
exactly-once mode) when every source went out or was given up. Used from one thread (the
poll loop); blocks only in ``finish``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from consumer.clock import Clock
from consumer.engine.batch_records import StartedBatch
from consumer.engine.delivery import Publisher
from consumer.engine.offsets import TopicPartitionKey
from consumer.engine.pipeline import Pipeline
from consumer.ensemble.scoring import Ensemble
from consumer.observability.recorder import Recorder


@dataclass
class InFlight:
    pipeline: Pipeline
    ensemble: Ensemble
    publisher: Publisher
    clock: Clock
    recorder: Recorder
    on_flood_close: Callable[[], None]
    processed: int = 0

    def __post_init__(self) -> None:
        self._batches: list[StartedBatch] = []

    def __len__(self) -> int:
        return len(self._batches)

    def add(self, started: StartedBatch) -> None:
        """Register a started batch with the publisher and publish what is ready already."""
        self.publisher.begin(started.sources)
        self._batches.append(started)
        self.advance()

    def answers_waiting(self) -> bool:
        """Whether a model call has finished and is waiting to be picked up."""
        return any(lane.answers_waiting() for lane in self.ensemble.lanes())

    def advance(self) -> None:
        """Pick up the models' answers and publish every event they complete. Does not block
        (beyond the producer's local queue). Raises PoisonFloodError once a batch that
        crossed the poison limit is published, DeliveryFailed on a refused record."""
        self.recorder.runs(self.ensemble.pump())
        for started in list(self._batches):
            part = self.pipeline.ready(started)
            if part is not None:
                self.publisher.publish(part)
            if started.complete:
                self._end(started)

    def _end(self, started: StartedBatch) -> None:
        self._batches.remove(started)
        self.publisher.end(started.sources)
        self.processed += len(started.sources)
        self.recorder.batch(started.sources)
        if started.flood is not None:
            self.on_flood_close()
            raise started.flood

    def finish(self, deadline: float) -> int:
        """Block until every batch is out or ``deadline`` (monotonic) passes; returns how
        many events were still unanswered then (they stay uncommitted)."""
        self.advance()
        while self._batches and self.clock.monotonic() < deadline:
            self.ensemble.wait(deadline - self.clock.monotonic())
            self.advance()
        return sum(started.open_events for started in self._batches)

    def give_up(self, partitions: set[TopicPartitionKey]) -> int:
        """Abandon the unanswered events of ``partitions`` (revoked or lost); batches left
        with nothing to wait for end now. Returns how many events were abandoned."""
        abandoned = sum(self.pipeline.abandon(started, partitions) for started in self._batches)
        for started in list(self._batches):
            if started.complete:
                self._end(started)
        return abandoned

    def open_in(self, partitions: set[TopicPartitionKey]) -> bool:
        """Whether an unanswered event of ``partitions`` still waits for a running call."""
        return any(
            source.tp in partitions and not started.emitted[index]
            for started in self._batches
            for index, (source, _) in enumerate(started.scored)
            if index not in started.abandoned
        )
