"""The windows stage's processing (the engine's ``Stage`` contract): samples and day
features of a batch through each partition's ``Windower``; the events and dead letters of
each input offset; the store's changes as changelog records.

One ``PartitionWindows`` per assigned input partition number (both input topics are
co-partitioned by ``user_id``: partition ``p`` of each holds the same users): its own
store (``Recording`` over RocksDB), cache and windower. Outputs: each ``Emission`` as a
``FeatureEvent`` to ``TOPICS__FEATURES`` keyed by user, the revision in the header
``revision``, the trigger in ``trigger``. Bad input: a dead letter with its reason (the
scoring stage's dead-letter record). Not thread-safe: the poll loop's thread only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from consumer.clock import Clock
from consumer.engine.batch_records import OutRecord, Polled, SourceResult
from consumer.errors import InvalidEvent
from consumer.intake.decode import decode
from consumer.settings import Settings
from consumer.windows.fast_samples import MinuteRecord
from consumer.windows.intake import decode_minutes
from consumer.windows.rocks import MIB
from consumer.windows.store import Store, WindowState
from consumer.windows.windower import Emission, Windower
from consumer.windows_stage.changelog import Recording
from consumer.windows_stage.dead_letters import dead_letter
from consumer.windows_stage.radar_input import RadarSteps
from schemas import ActivitySamples, FeatureEvent


@dataclass
class PartitionWindows:
    """One input partition's state and logic."""

    partition: int
    recording: Recording
    state: WindowState
    windower: Windower

    @classmethod
    def over(
        cls, partition: int, store: Store, settings: Settings, clock: Clock
    ) -> PartitionWindows:
        recording = Recording(store)
        state = WindowState(recording, cache_bytes=int(settings.windows.cache_mb * MIB))
        return cls(partition, recording, state, Windower(state, settings.windows, clock))


@dataclass
class WindowsProcessor:
    """Routes each record to its partition's windower (see the module doc)."""

    settings: Settings
    clock: Clock
    partitions: dict[int, PartitionWindows] = field(default_factory=dict)
    #: The coverage of each week sent since the metrics last took them.
    coverages: list[float] = field(default_factory=list)
    #: ``WINDOWS__ACTIVITY_FORMAT=radar_fitbit_intraday_steps``: the activity's reader.
    radar: RadarSteps | None = None

    def process(self, batch: Sequence[Polled]) -> tuple[list[SourceResult], list[OutRecord]]:
        """The engine's ``Stage.process``. A record of a partition not (or no longer)
        assigned is skipped without outputs (its offset is still registered)."""
        sources = []
        activity = self.settings.topics.activity
        for item in batch:
            tp = item.tp
            source = SourceResult(tp, item.message.offset() or 0, item.polled_at)
            part = self.partitions.get(tp[1])
            if part is not None:
                source.records = self._one(part, item, tp[0] == activity)
            sources.append(source)
        return sources, self.changelog()

    def before_commit(self) -> None:
        """Flush every partition's cache into its store (its changes are then taken)."""
        for part in self.partitions.values():
            part.state.flush()

    def changelog(self) -> list[OutRecord]:
        """Flush the caches; every change since the last call as changelog records."""
        topic = self.settings.topics.windows_changelog
        records: list[OutRecord] = []
        for part in self.partitions.values():
            part.state.flush()
            records += part.recording.take(topic, part.partition)
        return records

    def on_timers(self) -> tuple[list[OutRecord], list[OutRecord]]:
        """Idle closes and wall-clock retention of every partition: events, changelog."""
        out: list[OutRecord] = []
        for part in self.partitions.values():
            out += [self._event(e) for e in part.windower.on_timers()]
        return out, self.changelog()

    def _one(self, part: PartitionWindows, item: Polled, samples: bool) -> list[OutRecord]:
        try:
            if samples:
                emissions = part.windower.on_samples(self._samples(item))
            else:
                emissions = part.windower.on_day_features(self._features(item))
        except InvalidEvent as exc:
            return [dead_letter(self.settings, item, exc, self.clock.now())]
        return [self._event(e) for e in emissions]

    def _samples(self, item: Polled) -> ActivitySamples | MinuteRecord:
        if self.radar is not None:
            return self.radar.samples(item.message.key(), item.message.value())
        processing = self.settings.processing
        return decode_minutes(
            item.message.value(),
            max_bytes=processing.max_message_bytes,
            strict_fields=processing.strict_fields,
        )

    def _features(self, item: Polled) -> FeatureEvent:
        processing = self.settings.processing
        return decode(
            item.message.value(),
            max_bytes=processing.max_message_bytes,
            strict_fields=processing.strict_fields,
        ).event

    def _event(self, emission: Emission) -> OutRecord:
        says = emission.says
        if says.week is not None:
            self.coverages.append(says.week.coverage)
        headers = [
            ("revision", str(emission.revision).encode()),
            ("trigger", str(emission.trigger).encode()),
        ]
        return OutRecord(
            self.settings.topics.features,
            says.user_id.encode(),
            says.json(),
            headers=headers,
            kind="window",
            label=str(emission.trigger),
        )
