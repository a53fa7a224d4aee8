"""Why a prediction was slow: the share of its latency that went where.

An event's latency counts from when the worker read it to when its prediction was built.
It is spent in three places: the poll loop held by the consumer group (rebalance
callbacks: revoking waits for running model calls, assigning reads committed offsets),
waiting in the worker (in front of PAT when PAT takes the event: ``waited_for_pat``;
otherwise for the boosters or a busy loop: ``waited_in_worker``), and the model calls
themselves (``ran_slowly``, the longest of the event's runs). The slow-prediction alert
names the largest (``schemas.SlowReason``).

``GroupWaits`` records when the loop was inside rebalance callbacks (the last few
intervals, bounded). Pure logic: callers pass monotonic times. Not thread-safe (the poll
loop owns it).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable

from consumer.ensemble.scoring import PAT_NAME, ModelRun
from schemas import SlowReason

#: Rebalance intervals remembered (older ones end long before any event in flight).
KEPT_INTERVALS = 64


class GroupWaits:
    """Intervals the poll loop spent in rebalance callbacks."""

    def __init__(self) -> None:
        self._intervals: deque[tuple[float, float]] = deque(maxlen=KEPT_INTERVALS)

    def record(self, started: float, ended: float) -> None:
        if ended > started:
            self._intervals.append((started, ended))

    def overlap_s(self, since: float, until: float) -> float:
        """Seconds of rebalance callbacks within ``[since, until]``."""
        return sum(max(0.0, min(end, until) - max(start, since)) for start, end in self._intervals)


def slow_reason(latency_ms: float, runs: Iterable[ModelRun], group_wait_ms: float) -> SlowReason:
    """The largest part of ``latency_ms``: the group, the queue in front of the models, or
    the model calls (the longest run of the event's models). Pure."""
    runs = list(runs)
    ran_ms = max((run.latency_ms or 0.0 for run in runs), default=0.0)
    queued_ms = max(0.0, latency_ms - ran_ms - group_wait_ms)
    if group_wait_ms >= max(queued_ms, ran_ms):
        return SlowReason.WAITED_FOR_GROUP
    if queued_ms >= ran_ms:
        took_pat = any(run.name == PAT_NAME for run in runs)
        return SlowReason.WAITED_FOR_PAT if took_pat else SlowReason.WAITED_IN_WORKER
    return SlowReason.RAN_SLOWLY
