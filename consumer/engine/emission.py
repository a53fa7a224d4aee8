"""The records of the events whose models have all answered: one pass of ``Pipeline.ready``.

Each answered event gets its Prediction (and Alerts when a model failed or the event was
slow) as ``OutRecord``s on its ``SourceResult``. Events answered by the same model runs
(the events of one model call) form a group whose predictions are encoded together
(``ensemble.prediction_groups``: one orjson call per group), its slow events then given
their alerts one by one; a group that cannot be goes event by event
(``PredictionEncoder.encode``). The bytes are the same either way. Used from the poll
loop's thread only; never blocks.
"""

from __future__ import annotations

import operator
from collections.abc import Iterable, Sequence
from itertools import repeat

from consumer.clock import Clock
from consumer.engine.batch_records import OutRecord, SourceResult, StartedBatch
from consumer.engine.slow_reasons import GroupWaits, slow_reason
from consumer.ensemble.outputs import BatchOutcomes, EventOutcome, build_alerts
from consumer.ensemble.prediction_groups import GroupRuns, encode_group
from consumer.ensemble.prediction_json import PredictionEncoder
from consumer.ensemble.scoring import Ensemble, ModelRun, Scoring
from consumer.settings import Settings
from schemas import FeatureEvent, SlowReason, prediction_headers, record_headers


class Emission:
    """One ready pass: the clock read once, one encoder and one outcome cache shared by
    the pass's events. Short-lived; not thread-safe."""

    def __init__(
        self, ensemble: Ensemble, settings: Settings, clock: Clock, group_waits: GroupWaits
    ) -> None:
        self._settings = settings
        self._group_waits = group_waits
        self._outcomes = BatchOutcomes(ensemble.versions())
        self._now = clock.monotonic()
        self._encoder = PredictionEncoder(settings.ensemble, clock.now(), ensemble.stamp)
        self._budget_ms = settings.ensemble.slow_budget_s * 1000.0

    def emit(self, started: StartedBatch, scoring: Scoring) -> list[SourceResult]:
        """The batch's sources answered by all their models since the last pass, in batch
        order, each with its records; they are marked emitted."""
        skip = scoring.waiting() | started.abandoned  # unanswered, or given up
        answered = [i for i, done in enumerate(started.emitted) if not done and i not in skip]
        if not answered:
            return []
        started.emit_all(answered)
        scored = started.scored
        ready = [scored[index][0] for index in answered]
        for group in self._groups(scoring, answered, ready):
            self._emit_group(started, group)
        return ready

    def _groups(
        self, scoring: Scoring, answered: list[int], ready: list[SourceResult]
    ) -> list[GroupRuns]:
        """``answered`` (ascending) grouped by the runs that answered them, whether they had
        too few features, and their input topic; each group with its shared outcome."""
        columns = scoring.run_columns(answered)
        topics = [source.tp[0] for source in ready]
        keys: list[Sequence[object]] = []
        if len(set(topics)) > 1:
            keys.append(topics)
        if scoring.insufficient:
            keys.append([index in scoring.insufficient for index in answered])
        if not keys and all(_same(column) for column in columns.values()):
            # one call of each model answered them all
            return [self._group(columns, 0, answered, scoring.insufficient, topics[0], answered)]
        keys += [list(map(id, column)) for column in columns.values()]
        groups: dict[tuple[object, ...], GroupRuns] = {}
        for position, key in enumerate(zip(*keys, strict=True)):
            group = groups.get(key)
            if group is None:
                group = groups[key] = self._group(
                    columns, position, answered, scoring.insufficient, topics[position], []
                )
            group.indices.append(answered[position])
        return list(groups.values())

    def _group(
        self,
        columns: dict[str, list[ModelRun | None]],
        position: int,
        answered: list[int],
        insufficient: frozenset[int],
        topic: str,
        indices: list[int],
    ) -> GroupRuns:
        """The group of the event at ``position`` of ``answered``: its runs and outcome."""
        index = answered[position]
        runs = {
            name: run for name, column in columns.items() if (run := column[position]) is not None
        }
        outcome = self._outcomes.outcome(index, runs, index in insufficient)
        return GroupRuns(runs, outcome, topic, indices)

    def _emit_group(self, started: StartedBatch, group: GroupRuns) -> None:
        members = [started.scored[index] for index in group.indices]
        now, seen = self._now, dict[float, float]()
        latencies: list[float] = []  # rounded to 3 decimals, as the prediction carries it
        slowest_ms = 0.0
        for source, _ in members:
            latency = seen.get(source.polled_at)
            if latency is None:  # the events of one fetch share it
                latency_ms = (now - source.polled_at) * 1000.0
                slowest_ms = max(slowest_ms, latency_ms)
                latency = seen[source.polled_at] = float(round(latency_ms, 3))
            latencies.append(latency)
        values = encode_group(
            self._encoder,
            self._settings.ensemble,
            group,
            [event for _, event in members],
            [(source.tp[1], source.offset) for source, _ in members],
            latencies,
        )
        if values is None:
            self._emit_each(group, members)
            return
        partial = group.outcome.partial
        events = [event for _, event in members]
        records = OutRecord.predictions(
            self._settings.topics.predictions,
            [event.user_id.encode() for event in events],
            values,
            prediction_headers([event.event_id for event in events]),
            "true" if partial else "false",
        )
        for (source, _), record in zip(members, records, strict=True):
            source.partial = partial
            source.records.append(record)
        if slowest_ms > self._budget_ms:  # (no failed run: encode_group took none)
            self._alert_slow(group, members)

    def _alert_slow(
        self, group: GroupRuns, members: list[tuple[SourceResult, FeatureEvent]]
    ) -> None:
        """The alerts of a group's slow events, each after its prediction: a slow group
        costs its alerts, not the event-by-event encoding (a backlog on a loaded machine
        made every event slow, and slower ones cost more)."""
        for source, event in members:
            latency_ms = (self._now - source.polled_at) * 1000.0
            if latency_ms > self._budget_ms:
                reason = self._slow_reason(source, latency_ms, group.runs.values())
                self._append_alerts(source, event, group.outcome, latency_ms, reason)

    def _emit_each(
        self, group: GroupRuns, members: list[tuple[SourceResult, FeatureEvent]]
    ) -> None:
        """The group's events one by one (each its own outcome, reason and alerts)."""
        outcomes, runs = self._outcomes, group.runs
        for index, (source, event) in zip(group.indices, members, strict=True):
            latency_ms = (self._now - source.polled_at) * 1000.0
            outcome = outcomes.outcome(index, runs, source.insufficient_input)
            reason = None
            if latency_ms > self._budget_ms:
                reason = self._slow_reason(source, latency_ms, runs.values())
            self._emit_prediction(source, event, outcome, latency_ms, reason)

    def _slow_reason(
        self, source: SourceResult, latency_ms: float, runs: Iterable[ModelRun]
    ) -> SlowReason | None:
        """Where a slow event's latency went."""
        group_wait_ms = self._group_waits.overlap_s(source.polled_at, self._now) * 1000.0
        return slow_reason(latency_ms, runs, group_wait_ms)

    def _emit_prediction(
        self,
        source: SourceResult,
        event: FeatureEvent,
        outcome: EventOutcome,
        latency_ms: float,
        slow: SlowReason | None = None,
    ) -> None:
        settings, encoder = self._settings, self._encoder
        topic, partition = source.tp
        value = encoder.encode(event, outcome, (topic, partition, source.offset), latency_ms)
        key = event.user_id.encode()
        source.partial = partial = outcome.partial
        headers = record_headers("prediction", event.event_id)
        label = "true" if partial else "false"
        source.records.append(
            OutRecord(settings.topics.predictions, key, value, headers, label=label)
        )
        if not outcome.failed_runs and latency_ms <= self._budget_ms:
            return  # no alert is due (build_alerts would give none)
        self._append_alerts(source, event, outcome, latency_ms, slow)

    def _append_alerts(
        self,
        source: SourceResult,
        event: FeatureEvent,
        outcome: EventOutcome,
        latency_ms: float,
        slow: SlowReason | None,
    ) -> None:
        settings, key = self._settings, event.user_id.encode()
        alerts = build_alerts(event, outcome, latency_ms, settings.ensemble, self._encoder.at, slow)
        source.records.extend(
            OutRecord(
                settings.topics.alerts,
                key,
                alert.model_dump_json().encode(),
                record_headers("alert", event.event_id, alert_kind=alert.kind),
                kind="alert",
                label=alert.kind.value,
            )
            for alert in alerts
        )


def _same(column: list[ModelRun | None]) -> bool:
    """Whether every entry is the first one itself (one identity pass, in C)."""
    return all(map(operator.is_, column, repeat(column[0])))
