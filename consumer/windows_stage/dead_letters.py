"""A windows-stage input that cannot be used, as the service's dead-letter record: the
original bytes and the headers of ``DeadLetterHeaders`` (reason in ``error_class``:
``InvalidEvent.<reason>``, the reasons of ``consumer.windows.intake.REASONS``). Pure."""

from __future__ import annotations

from datetime import datetime

from consumer.engine.batch_records import OutRecord, Polled
from consumer.errors import InvalidEvent
from consumer.intake.reader import dead_letter_copy
from consumer.settings import Settings


def dead_letter(settings: Settings, item: Polled, exc: InvalidEvent, now: datetime) -> OutRecord:
    key, value, headers = dead_letter_copy(item.message, exc, settings.kafka.group_id, now)
    return OutRecord(settings.topics.dlq, key, value, headers, kind="dead_letter")
