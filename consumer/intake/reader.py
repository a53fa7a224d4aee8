"""One input message → its event, or its dead letter: which decoder reads it (the
registry's or the JSON contract's), the dead letter's headers and fitted copy, the
count of dead letters by reason and each partition's run of invalid messages (a poison
flood stops the worker). The engine's pipeline only routes what comes out. Used from the
poll loop's thread; not thread-safe.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from consumer.clock import Clock
from consumer.errors import InvalidEvent, PoisonFloodError
from consumer.intake import fast_path
from consumer.intake.dead_letter_log import DeadLetterSummary
from consumer.intake.dead_letters import Headers, fit_dead_letter
from consumer.intake.decode import Decoded, decode
from consumer.intake.invalid_runs import InvalidRuns, TopicPartition
from consumer.logs import log_event
from consumer.settings import Settings
from schemas import DeadLetterHeaders, FeatureEvent

_log = logging.getLogger("moodstream.pipeline")


class InMessage(Protocol):
    """The part of ``confluent_kafka.Message`` the intake and the pipeline read."""

    def topic(self) -> str | None: ...
    def partition(self) -> int | None: ...
    def offset(self) -> int | None: ...
    def key(self) -> bytes | None: ...
    def value(self) -> bytes | None: ...


class RecordDecoder(Protocol):
    """A decoder of framed records (``schema_registry.decoding.RegistryDecoder``)."""

    def prepare_records(self, records: Iterable[tuple[bytes | None, bytes | None]]) -> None: ...
    def decode_record(self, key: bytes | None, value: bytes | None) -> Decoded: ...


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """An unreadable message: why, its partition's run of invalid messages through it, and
    the copy to produce to the dead-letter topic (fitted to the producer's limits)."""

    reason: str
    streak: int
    key: bytes | None
    value: bytes | None
    headers: Headers


class EventReader:
    """Reads each message of a batch with the configured decoder."""

    def __init__(
        self, settings: Settings, clock: Clock, record_decoder: RecordDecoder | None = None
    ) -> None:
        self._settings = settings
        self._clock = clock
        self._record_decoder = record_decoder  # None: the JSON contract (decode)
        # what ``accepted`` takes: plain JSON events within the size limit (0: none)
        self._fast_limit = (
            0 if record_decoder is not None else settings.processing.max_message_bytes
        )
        self._runs = InvalidRuns(settings.processing.dlq_max_consecutive)
        self._dead_letters = DeadLetterSummary()

    def prepare(self, messages: Sequence[InMessage]) -> None:
        """With a registry decoder, look up the batch's new schema ids first: blocks on the
        registry; raises SchemaRegistryUnavailable, before any message is read, when it
        does not answer. Without one: nothing."""
        if self._record_decoder is not None:
            self._record_decoder.prepare_records((m.key(), m.value()) for m in messages)

    def accepted(self, value: bytes | None, tp: TopicPartition) -> FeatureEvent | None:
        """The event when ``value`` is a plain valid JSON event (``fast_path.accepted``, within
        the size limit; not with a registry decoder): exactly what ``read`` would give, its
        partition's run of invalid messages ended. None: call ``read``. Never raises."""
        if not value or len(value) > self._fast_limit:
            return None
        event = fast_path.accepted(value)
        if event is not None and self._runs.any_running:
            self._runs.valid(tp)
        return event

    def read(self, message: InMessage, tp: TopicPartition) -> Decoded | DeadLetter:
        """The message's event, or its dead letter (counted, and the partition's run of
        invalid messages extended). Never raises for a bad message; never blocks."""
        value, processing = message.value(), self._settings.processing
        try:
            if self._record_decoder is not None:
                decoded = self._record_decoder.decode_record(message.key(), value)
            else:
                decoded = decode(
                    value,
                    max_bytes=processing.max_message_bytes,
                    strict_fields=processing.strict_fields,
                )
        except InvalidEvent as exc:
            key, copied, headers = self._dead_letter_copy(message, exc)
            self._dead_letters.add(exc.reason)
            self.log_dead_letters()
            return DeadLetter(exc.reason, self._runs.invalid(tp), key, copied, headers)
        self._runs.valid(tp)
        return decoded

    def flood(self, tp: TopicPartition) -> PoisonFloodError | None:
        """The poison flood of ``tp`` when its run of invalid messages reached the limit."""
        return self._runs.flood(tp)

    def inherit_streaks(self, streaks: dict[TopicPartition, int]) -> None:
        """Continue newly assigned partitions' runs of invalid messages where their previous
        owner left them (from commit metadata)."""
        self._runs.inherit(streaks)

    def forget(self, partitions: Iterable[TopicPartition]) -> None:
        self._runs.forget(partitions)

    def log_dead_letters(self) -> None:
        """Log the ``dead_letters`` summary (count by reason) if one is due: at most once
        a minute. Does not block."""
        counts = self._dead_letters.due(self._clock.monotonic())
        if counts is not None:
            log_event(
                _log,
                "dead_letters",
                level=logging.WARNING,
                by_reason=counts,
                topic=self._settings.topics.dlq,
            )

    def _dead_letter_copy(
        self, message: InMessage, exc: InvalidEvent
    ) -> tuple[bytes | None, bytes | None, Headers]:
        return dead_letter_copy(message, exc, self._settings.kafka.group_id, self._clock.now())


def dead_letter_copy(
    message: InMessage, exc: InvalidEvent, consumer_group: str, failed_at: datetime
) -> tuple[bytes | None, bytes | None, Headers]:
    """The dead-letter record of an unreadable ``message``: its original key and value (a
    null value stays null), cut only where they cannot fit, and ``DeadLetterHeaders``
    (``error_class`` ``InvalidEvent.<reason>``). Pure."""
    headers = DeadLetterHeaders(
        error_class=f"InvalidEvent.{exc.reason}",
        error_message=str(exc),
        source_topic=message.topic() or "",
        source_partition=message.partition() or 0,
        source_offset=message.offset() or 0,
        consumer_group=consumer_group,
        failed_at=failed_at,
    )
    return fit_dead_letter(message.key(), message.value(), headers.to_kafka())
