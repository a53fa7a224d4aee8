"""One micro-batch of input messages → the records to publish for each source offset.

read (``intake.reader``: bad → dead letter) → per-key rate limit (over → overflow
topic) → ensemble on the valid events → one Prediction per event plus its Alerts.
``start`` queues the batch on the model lanes and returns at once; ``ready``
(non-blocking) hands out the records of every event whose models have all answered since
the last call. Not thread-safe: one owner (the poll loop).
"""

from __future__ import annotations

from collections.abc import Sequence

from consumer.clock import Clock
from consumer.engine.batch_records import BatchResult, OutRecord, Polled, SourceResult, StartedBatch
from consumer.engine.emission import Emission
from consumer.engine.offsets import TopicPartitionKey
from consumer.engine.output_values import encode_outputs
from consumer.engine.slow_reasons import GroupWaits
from consumer.ensemble.scoring import Ensemble, ModelRun, Scoring
from consumer.errors import PoisonFloodError
from consumer.intake.ratelimit import KeyRateLimiter
from consumer.intake.reader import DeadLetter, EventReader
from consumer.schema_registry.decoding import RegistryDecoder
from consumer.schema_registry.output_encoding import OutputEncoder
from consumer.settings import Settings
from schemas import FeatureEvent


class Pipeline:
    def __init__(
        self,
        ensemble: Ensemble,
        settings: Settings,
        clock: Clock,
        rate_limiter: KeyRateLimiter | None = None,
        registry_decoder: RegistryDecoder | None = None,
        group_waits: GroupWaits | None = None,
        output_encoder: OutputEncoder | None = None,
    ) -> None:
        self._ensemble = ensemble
        self._settings = settings
        self._clock = clock
        self._rate_limiter = rate_limiter
        self._group_waits = group_waits or GroupWaits()
        self._reader = EventReader(settings, clock, registry_decoder)
        self._output_encoder = output_encoder  # None: JSON outputs, no extra work

    def process(self, batch: Sequence[Polled]) -> BatchResult:
        """The whole batch as one result, waiting for every model (blocking; for tests and
        tools). Raises nothing per message."""
        started = self.start(batch)
        runs: list[ModelRun] = []
        while not started.complete:
            self._ensemble.wait(0.05)
            runs += self._ensemble.pump()
            self.ready(started)
        return BatchResult(started.sources, runs, started.flood)

    def start(self, batch: Sequence[Polled]) -> StartedBatch:
        """Decode, route and queue the batch on the models (does not wait for them).

        With a registry input format, first looks up the batch's new schema ids (blocks on
        the registry) and raises SchemaRegistryUnavailable, before touching any record,
        when it does not answer: the caller holds the batch and retries it."""
        self._reader.prepare([item.message for item in batch])
        sources: list[SourceResult] = []
        unscored: list[SourceResult] = []
        scored: list[tuple[SourceResult, FeatureEvent]] = []
        flood: PoisonFloodError | None = None
        limited = self._rate_limiter is not None
        activity = False
        notable: list[SourceResult] = []  # besides the unscored: see StartedBatch.notable
        accepted = self._reader.accepted
        for item in batch:
            message = item.message
            tp = (message.topic() or "", message.partition() or 0)  # Polled.tp, inline
            source = SourceResult(tp, message.offset() or 0, item.polled_at)
            sources.append(source)
            event = accepted(message.value(), tp)  # the plain valid event, cheaply
            if event is None:
                event = self._decode(item, source)
            key = message.key()
            if event is None:  # a dead letter: a run of them may have reached the limit
                source.order_key = key
                flood = flood or self._reader.flood(source.tp)
                unscored.append(source)
                continue
            source.order_key = key if key is not None else event.user_id.encode()
            if limited and self._over_rate_limit(event, item, source):
                unscored.append(source)
                continue
            scored.append((source, event))
            if source.ignored_fields:  # (an unscored source is notable already)
                notable.append(source)
            activity = activity or event.activity is not None
        scoring = self._submit(scored) if scored else None
        if scoring is not None:
            notable += (scored[index][0] for index in scoring.insufficient)
        if activity:  # the lanes hold it as float32 now; drop the lists (~320 KB each)
            scored = [(source, _without_activity(event)) for source, event in scored]
        return StartedBatch(sources, flood, unscored, scored, scoring, notable=notable)

    def ready(self, started: StartedBatch) -> BatchResult | None:
        """The sources whose records are ready since the last call (None: nothing new).
        Non-blocking; call ``Ensemble.pump`` first so lanes have answered what they can."""
        scoring = started.scoring
        first = not started.first_sent
        changed = scoring is not None and scoring.resolutions != started.seen_resolutions
        if not first and not changed:
            return None
        started.first_sent = True
        ready = list(started.unscored) if first else []
        if scoring is not None:
            started.seen_resolutions = scoring.resolutions
            emission = Emission(self._ensemble, self._settings, self._clock, self._group_waits)
            ready += emission.emit(started, scoring)
        if self._output_encoder is not None:
            encode_outputs(ready, self._output_encoder)
        return BatchResult(ready) if ready else None

    def _submit(self, scored: list[tuple[SourceResult, FeatureEvent]]) -> Scoring:
        """Start the models; events with too few features go without boosters."""
        minimum = self._settings.ensemble.min_present_features
        scoring = self._ensemble.submit([event for _, event in scored], minimum)
        for index in scoring.insufficient:
            scored[index][0].insufficient_input = True
        return scoring

    def abandon(self, started: StartedBatch, partitions: set[TopicPartitionKey]) -> int:
        """Give up the batch's unanswered events of ``partitions`` (revoked or lost): their
        rows waiting for a model are never submitted and their records never published, so
        their offsets are never committed. Returns how many were given up."""
        given_up = {
            index
            for index, (source, _) in enumerate(started.scored)
            if source.tp in partitions and not started.emitted[index]
        }
        given_up -= started.abandoned
        for index in given_up:
            started.close_event(index, emitted=False)
        if started.scoring is not None and given_up:
            started.scoring.cancel(given_up)
        return len(given_up)

    def log_dead_letters(self) -> None:
        """Log the ``dead_letters`` summary (count by reason) if one is due: at most once
        a minute. Call from the poll loop now and then; does not block."""
        self._reader.log_dead_letters()

    def inherit_streaks(self, streaks: dict[TopicPartitionKey, int]) -> None:
        """Continue newly assigned partitions' runs of invalid events where their previous
        owner left them (from commit metadata): a poison flood that stopped one worker
        stops the next owner at its next invalid event, not after a fresh count."""
        self._reader.inherit_streaks(streaks)

    def forget(self, partitions: set[TopicPartitionKey]) -> None:
        self._reader.forget(partitions)

    def _decode(self, item: Polled, source: SourceResult) -> FeatureEvent | None:
        read = self._reader.read(item.message, source.tp)
        if isinstance(read, DeadLetter):
            source.invalid_reason, source.invalid_streak = read.reason, read.streak
            dlq = self._settings.topics.dlq
            source.records.append(
                OutRecord(dlq, read.key, read.value, read.headers, kind="dead_letter")
            )
            return None
        source.ignored_fields = read.ignored_fields
        return read.event

    def _over_rate_limit(self, event: FeatureEvent, item: Polled, source: SourceResult) -> bool:
        limiter = self._rate_limiter
        if limiter is None or limiter.allow(event.user_id, self._clock.monotonic()):
            return False
        source.overflowed = True
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


def _without_activity(event: FeatureEvent) -> FeatureEvent:
    """The event without its activity list (the prediction needs only ids and dates)."""
    if event.activity is None:
        return event
    return event.model_copy(update={"activity": None})
