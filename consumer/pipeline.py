"""One micro-batch of input messages → the records to publish for each source offset.

decode (bad → dead letter) → per-key rate limit (over → overflow topic) → ensemble on the
valid events → one Prediction per event plus its Alerts. Blocks for at most the longest
model deadline (inside ``Ensemble.score``). Not thread-safe: one owner (the poll loop).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from consumer.clock import Clock
from consumer.dead_letter_log import DeadLetterSummary
from consumer.dead_letters import fit_dead_letter
from consumer.decode import decode
from consumer.ensemble import Ensemble, ModelRun, Scoring
from consumer.errors import InvalidEvent, PoisonFloodError
from consumer.logs import log_event
from consumer.model_inputs import scoring_input
from consumer.offsets import TopicPartitionKey
from consumer.outputs import EventOutcome, build_alerts, build_prediction, outcome_for
from consumer.ratelimit import KeyRateLimiter
from consumer.settings import Settings
from schemas import (
    Alert,
    DeadLetterHeaders,
    FeatureEvent,
    Prediction,
    SourcePosition,
    record_headers,
)

_log = logging.getLogger("moodstream.pipeline")


class InMessage(Protocol):
    """The part of ``confluent_kafka.Message`` the pipeline reads."""

    def topic(self) -> str | None: ...
    def partition(self) -> int | None: ...
    def offset(self) -> int | None: ...
    def key(self) -> bytes | None: ...
    def value(self) -> bytes | None: ...


@dataclass(frozen=True)
class Polled:
    message: InMessage
    polled_at: float  # monotonic seconds when poll returned it

    @property
    def tp(self) -> TopicPartitionKey:
        return (self.message.topic() or "", self.message.partition() or 0)


@dataclass(frozen=True)
class OutRecord:
    topic: str
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes]] | None = None
    kind: str = "prediction"  # prediction | alert | dead_letter | overflow
    label: str = ""  # metric label: alert kind, or "true"/"false" for a partial prediction


@dataclass(eq=False)  # identity semantics: one per consumed message, usable in sets
class SourceResult:
    """Everything one input offset produced; its offset is done when all are acknowledged."""

    tp: TopicPartitionKey
    offset: int
    polled_at: float
    records: list[OutRecord] = field(default_factory=list)
    invalid_reason: str | None = None
    invalid_streak: int = 0  # consecutive invalid events on its partition through this one
    partial: bool | None = None  # set for scored events
    insufficient_input: bool = False  # too few features: the boosters did not score it
    ignored_fields: tuple[str, ...] = ()  # labels of unknown top-level fields (tolerant)


@dataclass
class BatchResult:
    """Outputs ready to publish: a whole batch, or one part of it (see ``Pipeline.start``)."""

    sources: list[SourceResult]
    runs: dict[str, ModelRun]
    flood: PoisonFloodError | None = None


@dataclass
class StartedBatch:
    """A decoded batch whose models are running.

    ``sources`` lists every input in order (register them before publishing any part);
    ``parts`` yields, first, everything that needs no PAT (dead letters, overflow copies,
    predictions of events without activity) once the boosters answered, then the events
    scored by PAT once it answered or missed its deadline. Iterating blocks on the models.
    """

    sources: list[SourceResult]
    parts: Iterator[BatchResult]
    flood: PoisonFloodError | None


class Pipeline:
    def __init__(
        self,
        ensemble: Ensemble,
        settings: Settings,
        clock: Clock,
        rate_limiter: KeyRateLimiter | None = None,
    ) -> None:
        self._ensemble = ensemble
        self._settings = settings
        self._clock = clock
        self._rate_limiter = rate_limiter
        self._consecutive_invalid: dict[TopicPartitionKey, int] = {}
        self._dead_letters = DeadLetterSummary()

    def process(self, batch: Sequence[Polled]) -> BatchResult:
        """The whole batch as one result (all parts joined). Raises nothing per message."""
        started = self.start(batch)
        runs: dict[str, ModelRun] = {}
        for part in started.parts:
            runs |= part.runs
        return BatchResult(started.sources, runs, started.flood)

    def start(self, batch: Sequence[Polled]) -> StartedBatch:
        """Decode, route and submit the batch to the models (does not wait for them)."""
        sources: list[SourceResult] = []
        scored: list[tuple[SourceResult, FeatureEvent]] = []
        flood: PoisonFloodError | None = None
        for item in batch:
            source = SourceResult(item.tp, item.message.offset() or 0, item.polled_at)
            sources.append(source)
            event = self._decode(item, source)
            flood = flood or self._flood_check(source)
            if event is not None and not self._over_rate_limit(event, item, source):
                scored.append((source, event))
        scoring = self._submit(scored) if scored else None
        return StartedBatch(sources, self._parts(sources, scored, scoring), flood)

    def _submit(self, scored: list[tuple[SourceResult, FeatureEvent]]) -> Scoring:
        """Start the models; events with too few features go without them (no booster)."""
        minimum = self._settings.ensemble.min_present_features
        inputs = []
        for source, event in scored:
            model_input = scoring_input(event, minimum)
            source.insufficient_input = model_input is not event
            inputs.append(model_input)
        return self._ensemble.submit(inputs)

    def _parts(
        self,
        sources: list[SourceResult],
        scored: list[tuple[SourceResult, FeatureEvent]],
        scoring: Scoring | None,
    ) -> Iterator[BatchResult]:
        late = [self._ensemble.needs_pat(event) for _, event in scored]
        late_sources = [source for (source, _), wait in zip(scored, late, strict=True) if wait]
        runs = self._ensemble.collect(scoring, pat=False) if scoring else {}
        self._emit_predictions(scored, runs, [not wait for wait in late])
        waiting = set(late_sources)
        yield BatchResult([s for s in sources if s not in waiting], runs)
        if scoring is None or not late_sources:
            return
        runs = runs | self._ensemble.collect(scoring, pat=True)
        self._emit_predictions(scored, runs, late)
        yield BatchResult(late_sources, runs)

    def _emit_predictions(
        self,
        scored: list[tuple[SourceResult, FeatureEvent]],
        runs: dict[str, ModelRun],
        selected: list[bool],
    ) -> None:
        """Predictions (and alerts) of the selected events; the clock is read once per part."""
        versions = self._ensemble.versions()
        now, at = self._clock.monotonic(), self._clock.now()
        for index, ((source, event), chosen) in enumerate(zip(scored, selected, strict=True)):
            if chosen:
                latency_ms = (now - source.polled_at) * 1000.0
                insufficient = source.insufficient_input
                outcome = outcome_for(index, runs, versions, insufficient=insufficient)
                self._emit_prediction(source, event, outcome, latency_ms, at)

    def log_dead_letters(self) -> None:
        """Log the ``dead_letters`` summary (count by reason) if one is due: at most once
        a minute. Call from the poll loop now and then; does not block."""
        counts = self._dead_letters.due(self._clock.monotonic())
        if counts is not None:
            log_event(
                _log,
                "dead_letters",
                level=logging.WARNING,
                by_reason=counts,
                topic=self._settings.topics.dlq,
            )

    def inherit_streaks(self, streaks: dict[TopicPartitionKey, int]) -> None:
        """Continue newly assigned partitions' runs of invalid events where their previous
        owner left them (from commit metadata): a poison flood that stopped one worker
        stops the next owner at its next invalid event, not after a fresh count."""
        for tp, streak in streaks.items():
            self._consecutive_invalid[tp] = streak

    def forget(self, partitions: set[TopicPartitionKey]) -> None:
        for tp in partitions:
            self._consecutive_invalid.pop(tp, None)

    def _decode(self, item: Polled, source: SourceResult) -> FeatureEvent | None:
        value, processing = item.message.value(), self._settings.processing
        try:
            decoded = decode(
                value,
                max_bytes=processing.max_message_bytes,
                strict_fields=processing.strict_fields,
            )
        except InvalidEvent as exc:
            source.invalid_reason = exc.reason
            source.records.append(self._dead_letter(item, exc))
            self._dead_letters.add(exc.reason)
            self.log_dead_letters()
            self._consecutive_invalid[item.tp] = self._consecutive_invalid.get(item.tp, 0) + 1
            source.invalid_streak = self._consecutive_invalid[item.tp]
            return None
        self._consecutive_invalid[item.tp] = 0
        source.ignored_fields = decoded.ignored_fields
        return decoded.event

    def _flood_check(self, source: SourceResult) -> PoisonFloodError | None:
        count = self._consecutive_invalid.get(source.tp, 0)
        if count >= self._settings.processing.dlq_max_consecutive:
            return PoisonFloodError(source.tp[0], source.tp[1], count)
        return None

    def _dead_letter(self, item: Polled, exc: InvalidEvent) -> OutRecord:
        message = item.message
        headers = DeadLetterHeaders(
            error_class=f"InvalidEvent.{exc.reason}",
            error_message=str(exc),
            source_topic=message.topic() or "",
            source_partition=message.partition() or 0,
            source_offset=message.offset() or 0,
            consumer_group=self._settings.kafka.group_id,
            failed_at=self._clock.now(),
        )
        # The original bytes (a null value stays null), cut only where they cannot fit.
        key, value, kafka_headers = fit_dead_letter(
            message.key(), message.value(), headers.to_kafka()
        )
        return OutRecord(self._settings.topics.dlq, key, value, kafka_headers, kind="dead_letter")

    def _over_rate_limit(self, event: FeatureEvent, item: Polled, source: SourceResult) -> bool:
        limiter = self._rate_limiter
        if limiter is None or limiter.allow(event.user_id, self._clock.monotonic()):
            return False
        headers = [
            ("overflow.reason", b"rate_limited"),
            ("source.topic", (item.message.topic() or "").encode()),
            ("source.partition", str(source.tp[1]).encode()),
            ("source.offset", str(source.offset).encode()),
        ]
        source.records.append(
            OutRecord(
                self._settings.topics.overflow,
                item.message.key(),
                item.message.value(),
                headers,
                "overflow",
            )
        )
        return True

    def _emit_prediction(
        self,
        source: SourceResult,
        event: FeatureEvent,
        outcome: EventOutcome,
        latency_ms: float,
        at: datetime,
    ) -> None:
        settings = self._settings
        position = SourcePosition(topic=source.tp[0], partition=source.tp[1], offset=source.offset)
        prediction = build_prediction(event, outcome, position, latency_ms, settings.ensemble, at)
        alerts = build_alerts(event, outcome, latency_ms, settings.ensemble, at)
        key = event.user_id.encode()
        source.partial = prediction.partial
        partial = "true" if prediction.partial else "false"
        headers = record_headers("prediction", event.event_id)
        source.records.append(
            OutRecord(settings.topics.predictions, key, _json(prediction), headers, label=partial)
        )
        source.records.extend(
            OutRecord(
                settings.topics.alerts,
                key,
                _json(a),
                record_headers("alert", event.event_id, alert_kind=a.kind),
                kind="alert",
                label=a.kind.value,
            )
            for a in alerts
        )


def _json(model: Prediction | Alert) -> bytes:
    return model.model_dump_json().encode()
