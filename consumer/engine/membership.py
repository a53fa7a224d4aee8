"""The partitions this worker owns, and the group's rebalance callbacks (cooperative-sticky:
incremental; librdkafka calls them inside ``consume`` on the loop's thread).

An assignment records the group's committed offsets (for the lag gauge until the first
fetch) and the invalid-event streaks their metadata carries, and gives the new partitions
the gate's state (librdkafka keeps a partition's paused state across revoke and
re-assign, so each assignment explicitly pauses or resumes what it brings). A revocation
or a loss hands the partitions to the loop's ``give_up`` (finish or abandon their work),
then the publisher commits (revoked) or forgets (lost) them. Time spent in callbacks is
recorded (``GroupWaits``) for the slow-prediction alert's reason. Not thread-safe.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from consumer.clock import Clock
from consumer.engine.delivery import Publisher
from consumer.engine.fetch_gate import FetchGate
from consumer.engine.loop_reports import LoopReports
from consumer.engine.offsets import TopicPartitionKey
from consumer.engine.pipeline import Pipeline
from consumer.engine.poison import read_committed
from consumer.engine.slow_reasons import GroupWaits
from consumer.logs import log_event

if TYPE_CHECKING:
    from confluent_kafka import TopicPartition

    from consumer.engine.ports import LoopConsumer

_log = logging.getLogger("moodstream.runner")
REVOKE_TIMEOUT_S = 10.0
#: ``give_up(partitions, lost)``: finish (revoked) or drop (lost) their work; returns
#: how many events were abandoned.
GiveUp = Callable[[set[TopicPartitionKey], bool], int]


def partitions_of(keys: set[TopicPartitionKey]) -> list[TopicPartition]:
    from confluent_kafka import TopicPartition

    return [TopicPartition(topic, partition) for topic, partition in sorted(keys)]


class Membership:
    def __init__(
        self,
        consumer: LoopConsumer,
        publisher: Publisher,
        pipeline: Pipeline,
        gate: FetchGate,
        reports: LoopReports,
        clock: Clock,
        group_waits: GroupWaits,
        give_up: GiveUp,
    ) -> None:
        self._consumer = consumer
        self._publisher = publisher
        self._pipeline = pipeline
        self._gate = gate
        self._reports = reports
        self._clock = clock
        self.group_waits = group_waits
        self._give_up = give_up
        self.assigned: set[TopicPartitionKey] = set()
        self.committed_at_assign: dict[TopicPartitionKey, int] = {}
        self.joined = False

    def subscribe(self, topic: str) -> None:
        self._consumer.subscribe(
            [topic], on_assign=self.on_assign, on_revoke=self.on_revoke, on_lost=self.on_lost
        )

    def on_assign(self, _consumer: object, partitions: list[TopicPartition]) -> None:
        self._timed(self._assign, partitions)

    def on_revoke(self, _consumer: object, partitions: list[TopicPartition]) -> None:
        self._timed(self._revoke, partitions)

    def on_lost(self, _consumer: object, partitions: list[TopicPartition]) -> None:
        """Another worker owns these now: publish nothing more of them."""
        lost = {(tp.topic, tp.partition) for tp in partitions}
        self._give_up(lost, True)
        self._publisher.on_lost(lost)
        self.forget(lost)
        log_event(
            _log, "partitions_lost", level=logging.WARNING, partitions=sorted(p for _, p in lost)
        )

    def _timed(
        self, handler: Callable[[list[TopicPartition]], None], partitions: list[TopicPartition]
    ) -> None:
        """Run a rebalance handler, recording the time it held the loop (``GroupWaits``)."""
        started = self._clock.monotonic()
        try:
            handler(partitions)
        finally:
            self.group_waits.record(started, self._clock.monotonic())

    def _assign(self, partitions: list[TopicPartition]) -> None:
        added = {(tp.topic, tp.partition) for tp in partitions}
        self.assigned |= added
        self.joined = True
        if partitions:
            self._remember_committed(partitions)
            self._set_paused(partitions)
        log_event(_log, "partitions_assigned", partitions=sorted(p for _, p in added))

    def _set_paused(self, partitions: list[TopicPartition]) -> None:
        """Give newly assigned partitions the gate's state. Does not block."""
        from confluent_kafka import KafkaException

        try:
            if self._gate.paused:
                self._consumer.pause(partitions)
            else:
                self._consumer.resume(partitions)
        except KafkaException as exc:  # set again at the gate's next change
            log_event(_log, "pause_state_failed", level=logging.WARNING, error=str(exc))

    def _remember_committed(self, partitions: list[TopicPartition]) -> None:
        """The group's committed offsets of new partitions (for the lag gauge until the
        first fetch) and the invalid-event streaks their metadata carries. Blocks up to
        5 s (one broker round trip); failures are ignored."""
        read = read_committed(self._consumer, partitions)
        if read is None:
            return
        offsets, streaks = read
        if streaks:
            self._pipeline.inherit_streaks(streaks)
        if self._reports.metrics is not None:
            self.committed_at_assign.update(offsets)

    def _revoke(self, partitions: list[TopicPartition]) -> None:
        """The loop finishes or abandons the revoked partitions' work; commit, let go."""
        revoked = {(tp.topic, tp.partition) for tp in partitions}
        abandoned = self._give_up(revoked, False)
        self._publisher.on_revoke(revoked, REVOKE_TIMEOUT_S)
        self.forget(revoked)
        log_event(
            _log,
            "partitions_revoked",
            partitions=sorted(p for _, p in revoked),
            abandoned=abandoned,
            paused=self._gate.paused,
        )

    def forget(self, partitions: set[TopicPartitionKey]) -> None:
        """Let go of ``partitions`` (no longer assigned, streaks and lag dropped)."""
        self.assigned -= partitions
        for tp in partitions:
            self.committed_at_assign.pop(tp, None)
        self._pipeline.forget(partitions)
        self._reports.forget(partitions_of(partitions))
