"""The admission metrics (``consumer.ensemble.admission``, docs/how-it-works.md "Backlogs and
bursts"): what each model lane holds and admits, policy skips, and time paused by cause. Part
of ``Metrics``.

Built from ``Metrics``' own constructors (``prometheus_client`` is imported there, lazily).
Does not block; the metric objects are thread-safe.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from prometheus_client import Counter, Gauge

LANE_MODELS: tuple[str, ...] = ("depression", "hypomania", "mania", "pat")
PAUSE_REASONS: tuple[str, ...] = ("inflight", "pat_pending")
SKIP_REASONS: tuple[str, ...] = ("max_event_age",)


class LaneMetrics:
    def __init__(self, counter: Callable[..., Counter], gauge: Callable[..., Gauge]) -> None:
        lane = ("model",)
        self.queued_rows = gauge(
            "lane_queued_rows",
            "Rows a model lane has not answered (waiting + running)",
            lane,
            "livesum",
        )
        self.queued_seconds = gauge(
            "lane_queued_seconds",
            "Estimated seconds of the work a lane has not answered",
            lane,
            "livesum",
        )
        self.seconds_per_row = gauge(
            "lane_seconds_per_row",
            "A lane's moving estimate of its model's seconds per row",
            lane,
            "livemax",
        )
        self.admitted_rows = counter(
            "lane_admitted_rows", "Rows submitted to a model within its admission budget", lane
        )
        self.deferred_rows = counter(
            "lane_deferred_rows", "Rows that had to wait for room in a model lane", lane
        )
        self.model_skipped = counter(
            "model_skipped", "Rows a model skipped by policy (reason)", ("model", "reason")
        )
        self.paused_seconds = counter(
            "paused_seconds",
            "Time the worker took no new messages (held, then paused), by cause",
            ("reason",),
        )
        self.pauses = counter(
            "pauses", "Times the worker paused its partitions (lasting back-pressure)", ("reason",)
        )

    def prime(self) -> None:
        """Create the known label values at 0 (rates and ratios are 0, not absent)."""
        for model in LANE_MODELS:
            self.admitted_rows.labels(model=model)
            self.deferred_rows.labels(model=model)
        for reason in SKIP_REASONS:
            self.model_skipped.labels(model="pat", reason=reason)
        for reason in PAUSE_REASONS:
            self.paused_seconds.labels(reason=reason)
            self.pauses.labels(reason=reason)
