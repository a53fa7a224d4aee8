"""Composition of a windows-stage worker: its group (``<KAFKA__GROUP_ID>-windows``), its
consumer, a group-less consumer for restores, an idempotent producer and the loop.

Runs in a worker process after the fork; nothing here runs at import.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Final

from consumer.clock import Clock
from consumer.engine.offsets import CommitPolicy
from consumer.engine.stage import OrderedAtLeastOnce
from consumer.engine.transactions import ExactlyOnce
from consumer.engine.txn_calls import on_thread
from consumer.errors import KafkaSetupError
from consumer.kafka import group_names
from consumer.kafka.clients import create_consumer, create_producer
from consumer.settings import Guarantee, Settings
from consumer.windows_stage.delivery import Delivery, Ordered, Transactional
from consumer.windows_stage.heap import HeapTrim, glibc_trim
from consumer.windows_stage.radar_input import radar_input
from consumer.windows_stage.runner import WindowsRunner

#: The at-least-once producer's extra property (``KAFKA__EXTRA`` may set it otherwise).
ONLY_ERROR_REPORTS: Final = {"delivery.report.only.error": True}

if TYPE_CHECKING:
    from confluent_kafka import Consumer
    from confluent_kafka.admin import ClusterMetadata  # type: ignore[attr-defined]

    from consumer.observability.health import HealthReporter
    from consumer.windows_stage.metrics import WindowsMetrics


def windows_settings(settings: Settings) -> Settings:
    """The settings of the windows stage: its own consumer group (and so its own
    transactional ids). Pure."""
    kafka = settings.kafka.model_copy(
        update={"group_id": group_names.windows_group(settings.kafka.group_id)}
    )
    return settings.model_copy(update={"kafka": kafka})


def restore_group(settings: Settings) -> str:
    """The group id of the restore consumer (``settings`` from ``windows_settings``). Pure."""
    return group_names.restore_group(settings.kafka.group_id)


def check_co_partitioned(settings: Settings, metadata: ClusterMetadata) -> int:
    """The inputs' partition count; raises KafkaSetupError when the two input topics (or
    the changelog) have different partition counts: the stage joins them by user."""
    topics = settings.topics
    names = (topics.activity, topics.day_features, topics.windows_changelog)
    counts = {name: len(metadata.topics[name].partitions) for name in names}
    if len(set(counts.values())) != 1:
        found = ", ".join(f"{name} has {n}" for name, n in counts.items())
        raise KafkaSetupError(
            f"the windows stage's topics must have the same partition count ({found}): "
            "recreate them with equal partitions (moodstream topics create)"
        )
    return counts[topics.activity]


def build_windows_runner(
    settings: Settings,
    *,
    bootstrap: str,
    worker_index: int,
    clock: Clock,
    instance: str = "",
    metrics: WindowsMetrics | None = None,
    health: HealthReporter | None = None,
) -> WindowsRunner:
    """The loop of one windows worker (``settings`` from ``windows_settings``). Creates
    clients; does not block."""
    consumer = _co_partitioned_consumer(settings, bootstrap)
    restore_settings = settings.model_copy(
        update={"kafka": settings.kafka.model_copy(update={"group_id": restore_group(settings)})}
    )
    restorer = create_consumer(restore_settings, bootstrap)
    delivery = _delivery(settings, consumer, bootstrap, worker_index, clock, instance)
    store_dir = Path(settings.windows.state_dir) / settings.kafka.group_id / f"w{worker_index}"
    return WindowsRunner(
        consumer,
        restorer,
        delivery,
        settings,
        clock,
        store_dir,
        metrics=metrics,
        health=health,
        radar=radar_input(settings),
        heap=HeapTrim(glibc_trim(), clock.monotonic()),
    )


def _delivery(
    settings: Settings,
    consumer: Consumer,
    bootstrap: str,
    worker_index: int,
    clock: Clock,
    instance: str,
) -> Delivery:
    """The guarantee's delivery (``PROCESSING__GUARANTEE``). Blocks in
    ``init_transactions`` (exactly-once)."""
    processing = settings.processing
    if processing.guarantee is Guarantee.EXACTLY_ONCE:
        producer = create_producer(settings, bootstrap, worker_index, instance)
        publisher = ExactlyOnce(
            producer,
            consumer,
            clock,
            settings.kafka.connect_timeout_s,
            new_producer=lambda: create_producer(settings, bootstrap, worker_index, instance),
            bounded=on_thread(clock),
        )
        return Transactional(publisher)
    policy = CommitPolicy(processing.commit_interval_s, processing.commit_every_messages)
    # the ordered delivery needs only the reports of failures (``engine.stage``): none
    # built for the ~2.5 records acknowledged per input record
    producer = create_producer(settings, bootstrap, worker_index, instance, ONLY_ERROR_REPORTS)
    return Ordered(OrderedAtLeastOnce(producer, consumer, clock, policy))


def _co_partitioned_consumer(settings: Settings, bootstrap: str) -> Consumer:
    """The group's consumer with the range assignor: each member gets the same partition
    numbers of both inputs (cooperative-sticky could split partition ``p`` of the samples
    and of the day features between two workers, each then writing its own state of the
    same users to changelog partition ``p``). Rebalances are eager: every partition is
    revoked (published, committed, its store closed) and the new ones restored."""
    import logging

    from confluent_kafka import Consumer

    from consumer.kafka.clients import consumer_config
    from consumer.kafka.config import new_client

    conf: dict[str, object] = dict(consumer_config(settings, bootstrap))
    if settings.kafka.group_protocol == "consumer":
        conf["group.remote.assignor"] = "range"
    else:
        conf["partition.assignment.strategy"] = "range"
    conf.setdefault("queued.max.messages.kbytes", settings.windows.fetch_queue_mb * 1_024)
    conf["logger"] = logging.getLogger("moodstream.kafka.consumer")
    return new_client(Consumer, conf)
