"""The batches whose models are still answering, published part by part as they answer.

A batch's sources are registered with the publisher when it starts (so offsets commit in
order whatever order its parts go out in); each part is published once its events'
models have all answered and, under per-key order (``order``, a ``KeySequencer``), once
every earlier event of the same key went out: a source answered before an earlier one of
its key is held (``StartedBatch.held``) and published when that one is. The batch ends
(``Publisher.end``: the transaction commits in exactly-once mode) when every source went
out or was given up. Used from one thread (the poll loop); blocks only in ``finish``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from consumer.clock import Clock
from consumer.engine.batch_records import BatchResult, SourceResult, StartedBatch
from consumer.engine.delivery import Publisher
from consumer.engine.offsets import TopicPartitionKey
from consumer.engine.ordering import KeySequencer
from consumer.engine.pipeline import Pipeline
from consumer.engine.recorder import Recorder
from consumer.ensemble.scoring import Ensemble


@dataclass
class InFlight:
    pipeline: Pipeline
    ensemble: Ensemble
    publisher: Publisher
    clock: Clock
    recorder: Recorder
    on_flood_close: Callable[[], None]
    order: KeySequencer[SourceResult] | None = None  # None: arrival order
    processed: int = 0

    def __post_init__(self) -> None:
        self._batches: list[StartedBatch] = []
        self._held_in: dict[SourceResult, StartedBatch] = {}  # held source → its batch

    def __len__(self) -> int:
        return len(self._batches)

    def add(self, started: StartedBatch) -> None:
        """Register a started batch with the publisher and publish what is ready already."""
        self.publisher.begin(started.sources)
        self._batches.append(started)
        self.advance()

    def _sequence(self, started: StartedBatch, part: BatchResult | None) -> bool:
        """At a batch's first pass (per-key order): whether the batch may go out whole, in
        read order, without the sequencer: ``part`` holds all of it and no earlier event of
        any key is still waiting (every earlier batch in flight was put
        in the sequencer at its own first pass). Otherwise the batch's sources are put in
        it now, in read order, before any later batch's."""
        started.sequenced = True
        order = self.order
        assert order is not None
        if part is not None and started.complete and not len(order):
            return True
        register = order.register
        for source in started.sources:
            if source.order_key is not None:
                register(source.tp, source.order_key, source)
        return False

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
            as_is = (
                self.order is not None and not started.sequenced and self._sequence(started, part)
            )
            if part is not None:
                if as_is:  # the whole batch: in read order, dead letters included
                    self.publisher.publish(BatchResult(started.sources))
                else:
                    self._publish(started, part)
            if started.complete and not started.held:
                self._end(started)

    def _publish(self, started: StartedBatch, part: BatchResult) -> None:
        """Publish ``part`` (arrival order), or what it releases under per-key order: its
        sources whose key has no earlier event left, and later ones they were holding."""
        order = self.order
        if order is None:
            self.publisher.publish(part)
            return
        released: list[SourceResult] = []
        for source in part.sources:
            out = order.answer(source)
            if not out or out[0] is not source:
                started.held += 1
                self._held_in[source] = started
            for later in out:
                if later is not source:
                    self._held_in.pop(later).held -= 1
            released += out
        if released:
            self.publisher.publish(BatchResult(released))

    def _end(self, started: StartedBatch) -> None:
        self._batches.remove(started)
        self.publisher.end(started.sources)
        self.processed += len(started.sources)
        self.recorder.batch(len(started.sources), started.notable)
        if started.flood is not None:
            self.on_flood_close()
            raise started.flood

    def finish(self, deadline: float) -> int:
        """Block until every batch is out or ``deadline`` (monotonic) passes; returns how
        many events were still unanswered (or held behind one) then (they stay
        uncommitted)."""
        self.advance()
        while self._batches and self.clock.monotonic() < deadline:
            self.ensemble.wait(deadline - self.clock.monotonic())
            self.advance()
        return sum(started.open_events + started.held for started in self._batches)

    def give_up(self, partitions: set[TopicPartitionKey]) -> int:
        """Abandon the unanswered events of ``partitions`` (revoked or lost); batches left
        with nothing to wait for end now; answered sources held behind them are dropped
        too (never published, never committed). Returns how many events were abandoned."""
        abandoned = sum(self.pipeline.abandon(started, partitions) for started in self._batches)
        if self.order is not None:
            dropped = self.order.forget(partitions)
            for source in dropped:
                self._held_in.pop(source).held -= 1
            abandoned += len(dropped)
        for started in list(self._batches):
            if started.complete and not started.held:
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
