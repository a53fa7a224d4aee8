"""The poison-flood count of every stage: per input partition, the run of consecutive
invalid inputs (dead letters). Once a run reaches ``PROCESSING__DLQ_MAX_CONSECUTIVE`` the
worker stops with ``PoisonFloodError`` (exit 6, not restarted: the upstream producer is
broken); the run travels with the partition in its commit metadata, so the next owner goes
on where the last one stopped. Pure state, not thread-safe (the poll loop's)."""

from __future__ import annotations

from collections.abc import Iterable

from consumer.errors import PoisonFloodError

#: (topic, partition)
TopicPartition = tuple[str, int]


class InvalidRuns:
    """Consecutive invalid inputs per partition, against the flood ``limit``."""

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._runs: dict[TopicPartition, int] = {}
        self._going = 0  # partitions whose run is above 0

    def invalid(self, tp: TopicPartition) -> int:
        """An input of ``tp`` was dead-lettered: its run grows; returns the run through it."""
        run = self._runs[tp] = self._runs.get(tp, 0) + 1
        if run == 1:
            self._going += 1
        return run

    @property
    def any_running(self) -> bool:
        """Whether some partition has a run of invalid inputs going (else a valid input
        has nothing to end: the reader skips the lookup per event)."""
        return self._going > 0

    def valid(self, tp: TopicPartition) -> None:
        """A valid input ends its partition's run."""
        if self._runs.get(tp):
            self._going -= 1
        self._runs[tp] = 0

    def flood(self, tp: TopicPartition) -> PoisonFloodError | None:
        """The error to stop with once ``tp``'s run has reached the limit, else None."""
        count = self._runs.get(tp, 0)
        return PoisonFloodError(tp[0], tp[1], count) if count >= self._limit else None

    def inherit(self, runs: dict[TopicPartition, int]) -> None:
        """Go on from the runs the partitions' previous owner committed."""
        self._runs.update(runs)
        self._recount()

    def forget(self, partitions: Iterable[TopicPartition]) -> None:
        for tp in partitions:
            self._runs.pop(tp, None)
        self._recount()

    def _recount(self) -> None:
        self._going = sum(1 for run in self._runs.values() if run > 0)
