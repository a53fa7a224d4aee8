"""The Schema Registry stopped mid-stream and started again, against the real broker, the
real service and a real registry (a private Apicurio on its own port, persistent, so
that the shared registry of other tests is never stopped): the records that need a
schema the service has not fetched yet wait (nothing predicted, dead-lettered or
committed meanwhile, ``/readyz`` says why), and once the registry is back the stream
resumes with nothing lost.
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from confluent_kafka import Consumer, TopicPartition

from consumer.localkafka.ports import free_port_below_range
from consumer.localkafka.registry import LocalRegistry
from consumer.settings import LocalRegistrySettings, Settings
from tests.fakes import event_dict
from tests.integration.harness import (
    Service,
    Stream,
    TopicReader,
    committed_total,
    produce_raw,
    running_service,
    wait_for,
)
from tests.integration.registry_tools import REGISTRY_MARKS, avro_v2, encoder, keyed

pytestmark = REGISTRY_MARKS
EVENTS = 20
WAITS_SEEN = 3


def records_in(bootstrap: str, topic: str, partitions: int = 6) -> int:
    """Records ever written to ``topic`` (the sum of its high watermarks). Blocks ~1 s."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": uuid.uuid4().hex})
    try:
        marks = [
            consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
            for p in range(partitions)
        ]
        return sum(high for _, high in marks)
    finally:
        consumer.close()


@pytest.fixture
def own_registry(schema_registry_url: str) -> Iterator[LocalRegistry]:
    """A second local registry on a free port below the ephemeral range, persistent (its
    schemas survive the restart, as a production registry's do); same build."""
    del schema_registry_url  # the shared one exists first: the build is done
    settings = Settings()
    port = free_port_below_range()
    registry = LocalRegistry(settings.broker, LocalRegistrySettings(port=port, persistent=True))
    registry.start()
    try:
        yield registry
    finally:
        registry.stop()
        shutil.rmtree(registry.state_dir, ignore_errors=True)


def waiting(service: Service) -> bool:
    status, body = service.get("/readyz")
    return status == 503 and "waiting for the schema registry" in body


def test_records_wait_while_the_registry_is_down_and_resume_when_it_is_back(
    stream: Stream, own_registry: LocalRegistry, tmp_path: Path
) -> None:
    topic = stream.topics.features
    v1 = encoder(own_registry.url, "avro", topic)
    before = [keyed(v1.encode(event_dict(seed=s)), s) for s in range(EVENTS)]
    v2 = encoder(own_registry.url, "avro", topic, avro_v2())  # registered, never fetched yet
    during = [keyed(v2.encode(event_dict(seed=s)), s) for s in range(EVENTS, 2 * EVENTS)]
    env = stream.env(
        PROCESSING__INPUT_FORMAT="avro",
        SCHEMA_REGISTRY__URL=own_registry.url,
        SCHEMA_REGISTRY__RETRY_MAX_S=1,
    )
    with running_service(env, tmp_path) as service:
        service.wait_ready()
        produce_raw(stream.bootstrap, topic, before)
        predictions = TopicReader(stream.bootstrap, stream.topics.predictions)
        predictions.wait_count(EVENTS, 120)
        own_registry.stop()
        produce_raw(stream.bootstrap, topic, during)
        wait_for(lambda: waiting(service), 60, "/readyz never named the registry", service.process)
        wait_for(
            lambda: service.logs().count('"schema_registry_unavailable"') >= WAITS_SEEN,
            60,
            "the worker did not retry",
            service.process,
        )
        assert waiting(service), service.get("/readyz")
        held = [
            records_in(stream.bootstrap, t) for t in (stream.topics.predictions, stream.topics.dlq)
        ]
        held_commits = committed_total(stream.bootstrap, topic, stream.group, 6)
        own_registry.start()
        predictions.wait_count(2 * EVENTS, 120)
        wait_for(lambda: service.get("/readyz")[0] == 200, 60, "never ready again", service.process)
        logs = service.logs()
        assert service.stop() == 0, logs[-2000:]
    predicted = {value["event_id"] for value in predictions.values()}
    predictions.close()
    assert held == [EVENTS, 0]  # during the outage: nothing more predicted, no dead letter
    assert held_commits <= EVENTS  # nothing of the held records committed
    assert predicted == {event_dict(seed=s)["event_id"] for s in range(2 * EVENTS)}
    assert records_in(stream.bootstrap, stream.topics.dlq) == 0
    assert committed_total(stream.bootstrap, topic, stream.group, 6) == 2 * EVENTS
    assert '"worker_exited"' not in logs
