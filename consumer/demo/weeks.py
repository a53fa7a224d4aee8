"""``moodstream demo --samples USERS``: the windows stage beside the scoring one.

Minute samples of USERS synthetic users (``produce --samples``: gaps, duplicates,
lateness, time zones) go to the windows stage (``run --stage windows``), whose weeks and
day features go to the scoring stage's input, and their predictions carry the week's
coverage. :class:`WeeksTally` counts that path from the topics the demo reads: the
windows stage's events (told from other inputs by their ``trigger`` header), the weeks
among them, their predictions and coverage. Pure accounting; no Kafka here.
"""

from __future__ import annotations

import statistics
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from consumer.settings import TopicSettings

#: The windows stage's output header naming why an event went out (docs/windows.md).
TRIGGER_HEADER = "trigger"
#: A dead letter's header naming the topic its input came from (DeadLetterHeaders).
SOURCE_TOPIC_HEADER = "source.topic"
DAYS = 9  # local days per user: two weeks close, the DST change inside them


def _header(headers: Sequence[tuple[str, bytes | None]] | None, name: str) -> bytes | None:
    return next((value for key, value in headers or () if key == name), None)


def is_window_event(headers: Sequence[tuple[str, bytes | None]] | None) -> bool:
    """Whether a features-topic record was written by the windows stage. Pure."""
    return any(name == TRIGGER_HEADER for name, _ in headers or ())


def is_windows_dead_letter(
    headers: Sequence[tuple[str, bytes | None]] | None, topics: TopicSettings
) -> bool:
    """Whether a dead letter's input was one of the windows stage's topics. Pure."""
    source = (_header(headers, SOURCE_TOPIC_HEADER) or b"").decode("utf-8", "replace")
    return source in (topics.activity, topics.day_features)


@dataclass
class WeeksTally:
    """The windows stage's events seen on the features topic and their predictions.
    Unreadable records are counted, never raised. Pure; not thread-safe."""

    events: set[str] = field(default_factory=set)
    weeks: set[str] = field(default_factory=set)  # the events carrying a week of activity
    predicted: set[str] = field(default_factory=set)  # every prediction's event id
    coverage: dict[str, float] = field(default_factory=dict)  # scored weeks' coverage
    unreadable: int = 0
    dead: int = 0

    def event(self, value: bytes | None) -> None:
        """A windows-stage event on the features topic."""
        read = self._read(value, "activity")
        if read is None:
            return
        event_id, activity = read
        self.events.add(event_id)
        if activity is not None:
            self.weeks.add(event_id)

    def prediction(self, value: bytes | None) -> None:
        """Any prediction: those of windows events are matched by event id."""
        read = self._read(value, "coverage")
        if read is None:
            return
        event_id, coverage = read
        self.predicted.add(event_id)
        if isinstance(coverage, int | float):
            self.coverage[event_id] = float(coverage)

    def _read(self, value: bytes | None, field_name: str) -> tuple[str, Any] | None:
        """``(event_id, record[field_name])`` of a JSON record; None (counted as
        unreadable) when it is not one."""
        try:
            record = orjson.loads(value or b"")
            return str(record["event_id"]), record.get(field_name)
        except (ValueError, KeyError, TypeError, AttributeError):
            self.unreadable += 1
            return None

    def pending(self) -> int:
        """Windows events seen without a prediction yet."""
        return len(self.events - self.predicted)

    def scored_weeks(self) -> int:
        return len(self.weeks & set(self.coverage))

    def done(self, totals: dict[str, float], expected_records: int) -> bool:
        """The windows stage read every record sent (``totals``: its /metrics), every
        event it says it sent was seen here, and each has a prediction."""
        read = totals.get("moodstream_windows_records_total", 0.0)
        sent = totals.get("moodstream_windows_events_total", 0.0)
        return read >= expected_records and len(self.events) >= sent and self.pending() == 0

    def line(self) -> str:
        """The live view's part: weeks out and scored."""
        return f"  weeks {len(self.weeks)} scored {self.scored_weeks()}"

    def summary(self, totals: dict[str, float]) -> str:
        """The summary's windows line (``totals``: the windows stage's last /metrics)."""
        coverages = [self.coverage[e] for e in self.weeks if e in self.coverage]
        median = f"{statistics.median(coverages):.3f}" if coverages else "-"
        low = totals.get("moodstream_windows_weeks_not_scored_total", 0.0)
        return (
            f"windows: sample records in {totals.get('moodstream_windows_samples_total', 0):.0f}"
            f", events out {len(self.events)} (weeks {len(self.weeks)}, "
            f"revisions {totals.get('moodstream_windows_revisions_total', 0):.0f}), "
            f"weeks scored {self.scored_weeks()} (coverage median {median}), "
            f"weeks below the coverage floor {low:.0f}, dead letters {self.dead}"
        )


def expected_records(users: int, seed: int) -> int:
    """How many records ``produce --samples`` sends for these users and seed (day
    features and samples): the generator is deterministic. CPU only."""
    from consumer.producer.synthetic_samples import SamplesPlan, SyntheticSamples

    source = SyntheticSamples(seed, SamplesPlan(users=users, days=DAYS))
    return len(source.samples) + len(source.day_features)


def windows_argv() -> list[str]:
    return [sys.executable, "-m", "consumer", "run", "--stage", "windows", "--workers", "1"]


def samples_argv(users: int, seed: int) -> list[str]:
    return [
        *(sys.executable, "-m", "consumer", "produce", "--samples", "--json"),
        *("--users", str(users), "--days", str(DAYS), "--seed", str(seed)),
    ]


class WeeksSide:
    """The windows side of a demo run: its tally, the records its producer sends (counted
    by running the generator: CPU only), the windows stage's metrics port and the last
    scrape of it (``totals``)."""

    def __init__(self, users: int, seed: int, port: int) -> None:
        self.tally = WeeksTally()
        self.expected = expected_records(users, seed)
        self.port = port
        self.totals: dict[str, float] = {}

    def env(self, env: dict[str, str], state: Path) -> dict[str, str]:
        """The windows stage's environment: its own port, its store under ``state``."""
        return env | {
            "MOODSTREAM_OBSERVABILITY__PORT": str(self.port),
            "MOODSTREAM_WINDOWS__STATE_DIR": str(state),
        }

    def done(self) -> bool:
        return self.tally.done(self.totals, self.expected)

    def account(self, msg: Any, topics: TopicSettings) -> bool:
        """Count a record of this run (a confluent-kafka message) on the windows side;
        True when it is the windows stage's alone (its event or dead letter), False when
        the scoring side counts it too (a prediction) or only (anything else)."""
        topic, headers = msg.topic(), msg.headers()
        if topic == topics.features and is_window_event(headers):
            self.tally.event(msg.value())
            return True
        if topic == topics.dlq and is_windows_dead_letter(headers, topics):
            self.tally.dead += 1
            return True
        if topic == topics.predictions:
            self.tally.prediction(msg.value())
        return False
