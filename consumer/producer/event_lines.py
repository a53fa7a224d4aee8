"""Events from JSON lines (``moodstream produce --from FILE|-``), validated on the way in.

Pure: each line is checked with the service's own decoder (``decode_event``) under the
same size limit, so what is sent would not be dead-lettered for its content. Blank lines
are skipped. Not thread-safe; one pass over the lines.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from consumer.errors import InvalidEvent
from consumer.intake.decode import decode


@dataclass(frozen=True)
class LineRecord:
    """A valid event: the key (its ``user_id``) and the line's bytes, unchanged."""

    line: int
    key: bytes
    value: bytes
    has_activity: bool


@dataclass
class Refusals:
    """What was refused: count per reason, and the first few (line number, reason, why)."""

    by_reason: Counter[str] = field(default_factory=Counter)
    samples: list[tuple[int, str, str]] = field(default_factory=list)
    max_samples: int = 5

    def add(self, line: int, exc: InvalidEvent) -> None:
        self.by_reason[exc.reason] += 1
        if len(self.samples) < self.max_samples:
            self.samples.append((line, exc.reason, str(exc)))

    @property
    def total(self) -> int:
        return sum(self.by_reason.values())


def valid_records(
    lines: Iterable[bytes], *, max_bytes: int, strict_fields: bool, refusals: Refusals
) -> Iterator[LineRecord]:
    """Yield the valid events of ``lines`` (numbered from 1); record the others in
    ``refusals``. ``max_bytes`` and ``strict_fields`` as the service decodes
    (PROCESSING__MAX_MESSAGE_BYTES, PROCESSING__STRICT_FIELDS). Raises nothing."""
    for number, raw in enumerate(lines, start=1):
        value = raw.rstrip(b"\r\n")
        if not value.strip():
            continue
        try:
            event = decode(value, max_bytes=max_bytes, strict_fields=strict_fields).event
        except InvalidEvent as exc:
            refusals.add(number, exc)
            continue
        yield LineRecord(number, event.user_id.encode(), value, event.activity is not None)
