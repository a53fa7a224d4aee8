"""Outputs in the Schema Registry formats through the real service, the real broker and the
real Schema Registry (``schema_registry_url``: the local Apicurio Registry).

The same EVENTS plain-JSON events are scored once per ``PROCESSING__OUTPUT_FORMAT``
(``json``, then ``avro``, ``protobuf``, ``json_schema``; the last one under exactly-once,
read with read_committed), each run into its own output topics. A downstream consumer with
confluent-kafka's own deserializer (``AvroDeserializer``, ``ProtobufDeserializer``,
``JSONDeserializer``, knowing only the registry's URL and, for Protobuf, the published
message type) reads every prediction and alert: the values equal the JSON run's, the
``content-type`` header names the format, and the schemas live under ``<topic>-value``.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka.schema_registry.avro import AvroDeserializer
from confluent_kafka.schema_registry.json_schema import JSONDeserializer
from confluent_kafka.schema_registry.protobuf import ProtobufDeserializer, ProtobufSerializer
from confluent_kafka.serialization import MessageField, SerializationContext
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

from consumer.kafka.admin import create_topics, delete_topics, wait_for_topics
from consumer.schema_registry.output_encoding import CONTENT_TYPES
from consumer.settings import TopicSettings
from schemas import output_formats
from tests.integration.harness import TopicReader, moodstream, running_service, service_env
from tests.integration.registry_tools import REGISTRY_MARKS, registry_client

pytestmark = REGISTRY_MARKS
EVENTS = 50
SEED = 2_627
RUN_TIMEOUT_S = 180.0
#: Every prediction is "slow" against this budget: each also raises one alert.
SLOW_BUDGET_S = "0.000001"
#: What differs between two runs of the same events (times measured, when it was made).
RUN_FIELDS = ("latency_ms", "predicted_at")


def comparable(prediction: dict[str, Any]) -> dict[str, Any]:
    """A prediction without what depends on the run (latencies, its build time)."""
    kept = {k: v for k, v in prediction.items() if k not in RUN_FIELDS}
    kept["models"] = {
        name: {k: v for k, v in report.items() if k != "latency_ms"}
        for name, report in prediction["models"].items()
    }
    return kept


class Source:
    """The features topic holding the EVENTS events, and output topics per run."""

    def __init__(self, bootstrap: str) -> None:
        self.bootstrap = bootstrap
        self.suffix = uuid.uuid4().hex[:12]
        self.features = f"moodstream.outfmt.f.{self.suffix}"
        self.created: list[str] = []
        self._create([self.features])

    def _create(self, names: list[str]) -> None:
        admin = {"bootstrap.servers": self.bootstrap}
        create_topics(admin, names, 3, replication=1)
        wait_for_topics(admin, names, 30)
        self.created += names

    def topics(self, run: str) -> TopicSettings:
        names = {p: f"moodstream.outfmt.{run}.{p}.{self.suffix}" for p in ("p", "a", "d", "o")}
        self._create(list(names.values()))
        return TopicSettings(
            features=self.features, predictions=names["p"], alerts=names["a"],
            dlq=names["d"], overflow=names["o"], partitions=3, replication_factor=1,
        )  # fmt: skip

    def env(self, run: str, **settings: Any) -> tuple[dict[str, str], TopicSettings]:
        topics = self.topics(run)
        group = f"outfmt-{run}-{self.suffix}"
        env = service_env(self.bootstrap, topics, group, ENSEMBLE__SLOW_BUDGET_S=SLOW_BUDGET_S)
        env.update({f"MOODSTREAM_{k}": str(v) for k, v in settings.items()})
        return env, topics

    def delete(self) -> None:
        delete_topics({"bootstrap.servers": self.bootstrap}, self.created)


@pytest.fixture(scope="module")
def source(kafka_bootstrap: str) -> Iterator[Source]:
    made = Source(kafka_bootstrap)
    env, _ = made.env("produce")
    done = moodstream(
        "produce", "--synthetic", "--count", str(EVENTS), "--seed", str(SEED), "--json",
        env=env, timeout_s=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout)["acknowledged"] == EVENTS
    yield made
    made.delete()


def run_service(
    env: dict[str, str], topics: TopicSettings, tmp: Path
) -> tuple[list[Any], list[Any]]:
    """Run the service until EVENTS predictions and EVENTS alerts were written (read
    committed); stop it. Returns the raw prediction and alert messages."""
    predictions = TopicReader(env["MOODSTREAM_KAFKA__BOOTSTRAP_SERVERS"], topics.predictions)
    alerts = TopicReader(env["MOODSTREAM_KAFKA__BOOTSTRAP_SERVERS"], topics.alerts)
    try:
        with running_service(env, tmp) as service:
            deadline = time.monotonic() + RUN_TIMEOUT_S
            while len(predictions.records) < EVENTS or len(alerts.records) < EVENTS:
                assert time.monotonic() < deadline, service.logs()[-3000:]
                assert service.process.poll() is None, service.logs()[-3000:]
                predictions.poll(0.3)
                alerts.poll(0.2)
            assert service.stop() == 0, service.logs()[-3000:]
        return list(predictions.records), list(alerts.records)
    finally:
        predictions.close()
        alerts.close()


@pytest.fixture(scope="module")
def json_run(source: Source, tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    """The JSON-format run's predictions by event id."""
    env, topics = source.env("json")
    predictions, alerts = run_service(env, topics, tmp_path_factory.mktemp("json"))
    assert len(alerts) == EVENTS
    by_id = {p["event_id"]: p for p in (json.loads(m.value()) for m in predictions)}
    assert len(by_id) == EVENTS
    return by_id


def deserializer(url: str, fmt: str, kind: str) -> Any:
    """confluent-kafka's own deserializer of ``kind`` in ``fmt`` (a fresh client)."""
    client = registry_client(url)
    if fmt == "avro":
        return AvroDeserializer(client)
    if fmt == "json_schema":
        return JSONDeserializer(None, schema_registry_client=client)
    message_type = output_formats.proto_message_class(kind)
    protobuf = ProtobufDeserializer(message_type, {"use.deprecated.format": False})
    return lambda value, ctx: output_formats.proto_to_dict(protobuf(value, ctx))


@pytest.mark.parametrize(
    ("fmt", "guarantee"),
    [("avro", "at_least_once"), ("protobuf", "at_least_once"), ("json_schema", "exactly_once")],
)
def test_a_downstream_deserializer_reads_every_output_as_the_json_run_wrote_it(
    fmt: str,
    guarantee: str,
    source: Source,
    json_run: dict[str, dict[str, Any]],
    schema_registry_url: str,
    tmp_path: Path,
) -> None:
    env, topics = source.env(
        fmt,
        SCHEMA_REGISTRY__URL=schema_registry_url,
        PROCESSING__OUTPUT_FORMAT=fmt,
        PROCESSING__GUARANTEE=guarantee,
    )
    predictions, alerts = run_service(env, topics, tmp_path)
    content_type = CONTENT_TYPES[fmt].encode()
    read: dict[str, list[dict[str, Any]]] = {"prediction": [], "alert": []}
    for kind, messages in (("prediction", predictions), ("alert", alerts)):
        decode = deserializer(schema_registry_url, fmt, kind)
        for message in messages:
            assert dict(message.headers())["content-type"] == content_type
            assert message.value()[0] == 0  # registry-framed
            context = SerializationContext(message.topic(), MessageField.VALUE)
            read[kind].append(decode(message.value(), context))
    got = {p["event_id"]: p for p in read["prediction"]}
    assert set(got) == set(json_run) and len(read["prediction"]) == EVENTS
    for event_id, prediction in got.items():
        assert comparable(prediction) == comparable(json_run[event_id]), event_id
    assert sorted(a["event_id"] for a in read["alert"]) == sorted(json_run)
    assert {a["kind"] for a in read["alert"]} == {"slow_prediction"}
    subjects = set(registry_client(schema_registry_url).get_subjects())
    assert {f"{topics.predictions}-value", f"{topics.alerts}-value"} <= subjects
    if fmt == "protobuf":
        assert_a_changed_protobuf_schema_registers(schema_registry_url, topics.predictions)


def assert_a_changed_protobuf_schema_registers(url: str, topic: str) -> None:
    """The service gave its Protobuf subject compatibility NONE: a changed descriptor (a
    new field) registers as version 2, where Apicurio's BACKWARD check answers HTTP 500."""
    descriptor = output_formats.file_descriptor("prediction")
    message = next(m for m in descriptor.message_type if m.name == "Prediction")
    field = descriptor_pb2.FieldDescriptorProto
    message.field.add(name="added", number=99, type=field.TYPE_STRING, label=field.LABEL_OPTIONAL)
    pool = descriptor_pool.DescriptorPool()
    pool.Add(descriptor)
    v2 = message_factory.GetMessageClass(pool.FindMessageTypeByName("moodstream.v1.Prediction"))
    client = registry_client(url)
    serializer = ProtobufSerializer(v2, client, {"use.deprecated.format": False})
    assert serializer(v2(added="x"), SerializationContext(topic, MessageField.VALUE))
    assert len(client.get_versions(f"{topic}-value")) == 2
