"""A windows-stage input that cannot be used, as the service's dead-letter record: the
original bytes and the headers of ``DeadLetterHeaders`` (reason in ``error_class``:
``InvalidEvent.<reason>``, the reasons of ``consumer.windows.intake.REASONS``). Pure."""

from __future__ import annotations

from datetime import datetime

from consumer.engine.batch_records import OutRecord, Polled
from consumer.errors import InvalidEvent
from consumer.intake.dead_letters import fit_dead_letter
from consumer.settings import Settings
from schemas import DeadLetterHeaders


def dead_letter(settings: Settings, item: Polled, exc: InvalidEvent, now: datetime) -> OutRecord:
    message = item.message
    headers = DeadLetterHeaders(
        error_class=f"InvalidEvent.{exc.reason}",
        error_message=str(exc),
        source_topic=message.topic() or "",
        source_partition=message.partition() or 0,
        source_offset=message.offset() or 0,
        consumer_group=settings.kafka.group_id,
        failed_at=now,
    )
    key, value, kafka_headers = fit_dead_letter(message.key(), message.value(), headers.to_kafka())
    return OutRecord(settings.topics.dlq, key, value, kafka_headers, kind="dead_letter")
