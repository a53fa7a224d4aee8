"""The windows loop's upkeep with the engine's code (consumer/windows_stage/upkeep.py,
consumer/engine/poison.py): the poison-flood rule over each batch's dead letters, runs
inherited from the commit metadata, the consumer-lag gauge of both inputs, and the input
paused while a batch waits for the Schema Registry. Fakes and a fake clock only."""

from __future__ import annotations

from confluent_kafka import TopicPartition
from prometheus_client import CollectorRegistry

from consumer.engine.batch_records import OutRecord, Polled, SourceResult
from consumer.engine.membership import partitions_of
from consumer.engine.offsets import streak_metadata
from consumer.engine.poison import InvalidStreaks
from consumer.errors import PoisonFloodError
from consumer.settings import ProcessingSettings, SchemaRegistrySettings, Settings
from consumer.windows_stage.metrics import WindowsMetrics
from consumer.windows_stage.processor import WindowsProcessor
from consumer.windows_stage.upkeep import LAG_REFRESH_S, Upkeep
from tests.fakes import FakeClock, FakeMessage
from tests.fakes.kafka import FakeConsumer, FakePublisher

ACTIVITY = "mood.activity.v1"
DEAD = OutRecord("dlq", b"k", b"v", kind="dead_letter")
EVENT = OutRecord("features", b"k", b"v", kind="window")


def _source(partition: int, offset: int, *records: OutRecord) -> SourceResult:
    return SourceResult((ACTIVITY, partition), offset, 0.0, list(records))


def test_a_run_of_dead_letters_reaching_the_limit_is_a_flood() -> None:
    streaks = InvalidStreaks(limit=3)
    batch = [_source(0, 0, DEAD), _source(0, 1, DEAD), _source(1, 0, EVENT)]
    assert streaks.observe(batch) is None
    assert [s.invalid_streak for s in batch] == [1, 2, 0]
    valid_between = [_source(0, 2, EVENT), _source(0, 3, DEAD), _source(0, 4, DEAD)]
    assert streaks.observe(valid_between) is None  # a valid input ended the run
    flood = streaks.observe([_source(0, 5, DEAD), _source(1, 1, DEAD)])
    assert isinstance(flood, PoisonFloodError)
    assert (flood.topic, flood.partition, flood.count) == (ACTIVITY, 0, 3)
    streaks.forget([(ACTIVITY, 0)])
    assert streaks.observe([_source(0, 6, DEAD)]) is None


class CommittedConsumer(FakeConsumer):
    """Committed offsets with the invalid-run metadata a previous owner left."""

    def __init__(self, committed: dict[int, tuple[int, int]]) -> None:
        super().__init__({0: (0, 100), 1: (0, 40)}, {0: 90, 1: -1001})
        self.committed_at = committed

    def committed(
        self, partitions: list[TopicPartition], /, *, timeout: float
    ) -> list[TopicPartition]:
        return [
            TopicPartition(
                tp.topic,
                tp.partition,
                self.committed_at[tp.partition][0],
                metadata=streak_metadata(self.committed_at[tp.partition][1]),
            )
            for tp in partitions
        ]


def _upkeep(consumer: FakeConsumer, limit: int = 1_000) -> tuple[Upkeep, CollectorRegistry]:
    settings = Settings(
        processing=ProcessingSettings(dlq_max_consecutive=limit),
        schema_registry=SchemaRegistrySettings(retry_initial_s=1.0, retry_max_s=4.0),
    )
    registry = CollectorRegistry()
    metrics = WindowsMetrics(registry)
    return Upkeep(consumer, FakePublisher(), settings, FakeClock(), metrics), registry  # type: ignore[arg-type]


def test_the_next_owner_goes_on_from_the_committed_run() -> None:
    consumer = CommittedConsumer({0: (10, 4), 1: (5, 0)})
    upkeep, _ = _upkeep(consumer, limit=5)
    upkeep.assigned(partitions_of({(ACTIVITY, 0), (ACTIVITY, 1)}))
    assert consumer.calls == [("resume", [0, 1])]  # nothing held: resumed explicitly
    assert upkeep.streaks.observe([_source(1, 5, DEAD)]) is None
    assert isinstance(upkeep.streaks.observe([_source(0, 10, DEAD)]), PoisonFloodError)


def test_the_lag_of_both_inputs_is_reported_and_reset_when_let_go() -> None:
    consumer = CommittedConsumer({0: (10, 0), 1: (25, 0)})
    upkeep, registry = _upkeep(consumer)
    assigned = partitions_of({(ACTIVITY, 0), (ACTIVITY, 1)})
    upkeep.assigned(assigned)
    upkeep.lag(0.0, assigned)

    def lag(partition: int) -> float | None:
        labels = {"topic": ACTIVITY, "partition": str(partition)}
        return registry.get_sample_value("moodstream_consumer_lag", labels)

    # Partition 1 fetched nothing yet: its committed offset stands in.
    assert (lag(0), lag(1)) == (10, 15)
    consumer.positions[0] = 100
    upkeep.lag(LAG_REFRESH_S / 2, assigned)
    assert lag(0) == 10  # not due yet
    upkeep.lag(LAG_REFRESH_S, assigned)
    assert lag(0) == 0
    upkeep.let_go({(ACTIVITY, 1)}, assigned[:1])
    assert lag(1) == 0


def test_a_batch_waits_for_the_registry_with_the_input_paused() -> None:
    consumer = FakeConsumer()
    upkeep, _ = _upkeep(consumer)
    assigned = partitions_of({(ACTIVITY, 0), (ACTIVITY, 1)})
    batch = [Polled(FakeMessage(b"v", 7, 1, ACTIVITY), 0.0)]
    upkeep.hold(batch, "the registry did not answer", assigned)
    start = FakeClock().monotonic()  # when the hold began
    assert upkeep.wait.holding and not upkeep.wait.due(start + 0.5)
    assert consumer.calls == [("pause", [0, 1])]
    upkeep.assigned(partitions_of({(ACTIVITY, 2)}))  # a new partition stays paused too
    assert consumer.calls[-1] == ("pause", [2])
    assert upkeep.wait.due(start + 1.0) and upkeep.wait.take() == batch
    upkeep.recovered(assigned)
    assert consumer.calls[-1] == ("resume", [0, 1])
    upkeep.recovered(assigned)  # no wait open: nothing to resume
    assert len(consumer.calls) == 3


def test_held_records_of_partitions_let_go_are_dropped_and_the_rest_resumed() -> None:
    consumer = FakeConsumer()
    upkeep, _ = _upkeep(consumer)
    kept = partitions_of({(ACTIVITY, 0)})
    batch = [Polled(FakeMessage(b"v", 3, 1, ACTIVITY), 0.0)]
    upkeep.hold(batch, "down", partitions_of({(ACTIVITY, 0), (ACTIVITY, 1)}))
    upkeep.let_go({(ACTIVITY, 1)}, kept)
    assert not upkeep.wait.holding
    assert consumer.calls[-1] == ("resume", [0])


def test_a_batch_s_records_dead_letters_and_changelog_are_counted_once_per_batch() -> None:
    registry = CollectorRegistry()
    metrics = WindowsMetrics(registry)
    processor = WindowsProcessor(Settings(), FakeClock())
    batch = [
        Polled(FakeMessage(b"v", n, _topic=ACTIVITY if n % 3 else "days"), 0.0) for n in range(7)
    ]
    sources = [_source(0, 1, EVENT, DEAD), _source(0, 2), _source(1, 3, DEAD, DEAD)]
    metrics.batch(batch, sources, [EVENT, EVENT], processor)
    metrics.batch(batch[:2], [_source(0, 4, EVENT)], [], processor)

    def value(name: str, **labels: str) -> float | None:
        return registry.get_sample_value(f"moodstream_windows_{name}_total", labels)

    assert value("records", topic=ACTIVITY) == 4 + 1
    assert value("records", topic="days") == 3 + 1
    assert value("dead_letters") == 3
    assert value("changelog_records") == 2
