"""What the poll loop reports to Prometheus: model runs, finished batches, lanes, pauses.

A no-op without metrics (unit tests, tools). Non-blocking; used from the poll loop only.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING

from consumer.ensemble.lanes import ModelLane, ModelRun
from consumer.logs import log_event
from schemas import ModelStatus

if TYPE_CHECKING:
    from consumer.engine.batch_records import SourceResult
    from consumer.observability.metrics import Metrics

_log = logging.getLogger("moodstream.runner")


class Recorder:
    def __init__(self, metrics: Metrics | None) -> None:
        self._metrics = metrics
        self._lane_counts: dict[str, tuple[int, int]] = {}

    def runs(self, runs: Sequence[ModelRun]) -> None:
        """Latency, timeouts, failures and policy skips of model calls just answered."""
        metrics = self._metrics
        for run in runs:
            if run.status is ModelStatus.FAILED and not run.call_part:
                log_event(_log, "model_failed", level=logging.WARNING, model=run.name)
            if metrics is None or run.call_part:
                continue  # a gathered call's later runs: the call is counted once
            if run.call_rows and run.latency_ms is not None:  # a call that ran
                metrics.model_call_rows.labels(model=run.name).observe(run.call_rows)
            if run.status is ModelStatus.OK and run.latency_ms is not None:
                metrics.model_latency.labels(model=run.name).observe(run.latency_ms / 1000.0)
            elif run.status is ModelStatus.TIMEOUT:
                metrics.model_timeouts.labels(model=run.name).inc()
            elif run.status is ModelStatus.FAILED:
                metrics.model_failures.labels(model=run.name).inc()
            elif run.status is ModelStatus.SKIPPED:
                reason = run.reason or "unknown"
                metrics.lanes.model_skipped.labels(model=run.name, reason=reason).inc(len(run.rows))

    def batch(self, size: int, notable: Sequence[SourceResult]) -> None:
        """Size (``size`` events) and invalid/overflow/too-few-features/unknown-field counts
        of a batch whose every source went out; ``notable``: its sources with any of those
        (``StartedBatch.notable``: the others add nothing, so they are not visited)."""
        metrics = self._metrics
        if metrics is None:
            return
        metrics.batch_size.observe(size)
        for source in notable:
            if source.invalid_reason is not None:
                metrics.events_invalid.labels(reason=source.invalid_reason).inc()
            elif source.overflowed:
                metrics.events_overflow.labels(reason="rate_limited").inc()
            if source.insufficient_input:
                metrics.insufficient_input.inc()
            for label in source.ignored_fields:  # the first sighting of a name is logged once
                if metrics.count_unknown_field(label):
                    log_event(_log, "unknown_field_ignored", level=logging.WARNING, field=label)

    def lanes(self, lanes: Sequence[ModelLane]) -> None:
        """Each lane's queued rows and seconds, its speed estimate and admission counts."""
        metrics = self._metrics
        if metrics is None:
            return
        for lane in lanes:
            name = lane.name
            rows = lane.queued_rows()
            per_row_s = lane.admission.estimate.seconds_per_row
            metrics.lanes.queued_rows.labels(model=name).set(rows)
            metrics.lanes.queued_seconds.labels(model=name).set(rows * per_row_s)
            metrics.lanes.seconds_per_row.labels(model=name).set(per_row_s)
            admitted, deferred = self._lane_counts.get(name, (0, 0))
            stats = lane.stats
            metrics.lanes.admitted_rows.labels(model=name).inc(stats.admitted_rows - admitted)
            metrics.lanes.deferred_rows.labels(model=name).inc(stats.deferred_rows - deferred)
            self._lane_counts[name] = (stats.admitted_rows, stats.deferred_rows)

    def paused(self, reason: str, seconds: float) -> None:
        """Back-pressure of ``seconds`` (held, then maybe paused) ended."""
        if self._metrics is not None and seconds > 0:
            self._metrics.lanes.paused_seconds.labels(reason=reason).inc(seconds)

    def pause(self, reason: str) -> None:
        """The partitions were paused (back-pressure lasted ``PROCESSING__PAUSE_AFTER_S``)."""
        if self._metrics is not None:
            self._metrics.lanes.pauses.labels(reason=reason).inc()

    def inflight(self, events: int) -> None:
        if self._metrics is not None:
            self._metrics.inflight_events.set(events)
