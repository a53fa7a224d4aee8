"""Registry-framed input through the real service, the real broker and the real Schema
Registry (``schema_registry_url``: the local Apicurio Registry of ``moodstream registry``).

* Parity per format: ``moodstream produce --synthetic --format F`` (confluent-kafka's
  serializers, auto-registration) → one prediction per event, no dead letter, and the
  boosters' outputs equal to those of the same events sent as JSON (within 1e-9).
* Avro v1 and v2 interleaved on one topic, all predicted; the five kinds of bad registry
  input each dead-lettered with its reason.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka.schema_registry.protobuf import ProtobufSerializer
from confluent_kafka.serialization import MessageField, SerializationContext

from consumer.kafka.admin import create_topics, delete_topics, wait_for_topics
from consumer.settings import TopicSettings
from schemas import registry_formats as formats
from tests.fakes import event_dict
from tests.integration.harness import (
    Stream,
    TopicReader,
    moodstream,
    produce_raw,
    running_service,
    service_env,
)
from tests.integration.registry_tools import (
    REGISTRY_MARKS,
    avro_v2,
    avro_without_user_id,
    encoder,
    keyed,
    registry_client,
)

pytestmark = REGISTRY_MARKS
#: Events per format (the issue's 500; each run also produces the JSON twins once).
EVENTS = 500
SEED = 2_611
FLOW_TIMEOUT_S = 240.0
TOLERANCE = 1e-9


def boosters(prediction: dict[str, Any]) -> list[float | None]:
    """The booster models' outputs in a prediction (next-day risks, current depression)."""
    risk = prediction["next_day_risk"]
    return [risk["depression"], risk["hypomania"], risk["mania"], prediction["current_depression"]]


@dataclass
class Outputs:
    """What the service wrote: each event's boosters, and the dead letters' records."""

    predictions: dict[str, list[float | None]]
    dead_letters: list[Any]

    def reasons(self) -> dict[str, bytes]:
        """Each dead letter's reason (its ``error.class`` header) with its value."""
        found = {}
        for message in self.dead_letters:
            reason = dict(message.headers() or [])["error.class"].decode()
            found[reason.removeprefix("InvalidEvent.")] = message.value()
        return found


def run_over(
    env: dict[str, str], topics: TopicSettings, bootstrap: str, tmp: Path, records: int
) -> Outputs:
    """Run the service until ``records`` outputs (predictions and dead letters together)
    were written for the records on the features topic; stop it. Blocks up to
    FLOW_TIMEOUT_S; the caller asserts how they split."""
    predictions = TopicReader(bootstrap, topics.predictions)
    dead = TopicReader(bootstrap, topics.dlq)
    try:
        with running_service(env, tmp) as service:
            deadline = time.monotonic() + FLOW_TIMEOUT_S
            while len(predictions.records) + len(dead.records) < records:
                assert time.monotonic() < deadline, (
                    f"{len(predictions.records)} + {len(dead.records)} of {records} outputs"
                )
                predictions.poll(0.3)
                dead.poll(0.2)
            assert service.stop() == 0, service.logs()[-3000:]
        dead.poll(0.5)  # nothing more may come
        return Outputs({p["event_id"]: boosters(p) for p in predictions.values()}, dead.records)
    finally:
        predictions.close()
        dead.close()


def produce_synthetic(env: dict[str, str], value_format: str) -> None:
    done = moodstream(
        "produce", "--synthetic", "--count", str(EVENTS), "--seed", str(SEED),
        "--format", value_format, "--json", env=env, timeout_s=180,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout)["acknowledged"] == EVENTS


@pytest.fixture(scope="module")
def json_twins(
    kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, list[float | None]]]:
    """The boosters' outputs for the EVENTS synthetic events sent as plain JSON."""
    suffix = uuid.uuid4().hex[:12]
    names = {part: f"moodstream.twins.{part}.{suffix}" for part in ("f", "p", "a", "d", "o")}
    topics = TopicSettings(
        features=names["f"], predictions=names["p"], alerts=names["a"], dlq=names["d"],
        overflow=names["o"], partitions=6, replication_factor=1,
    )  # fmt: skip
    admin = {"bootstrap.servers": kafka_bootstrap}
    create_topics(admin, topics.all(), 6, replication=1)
    wait_for_topics(admin, topics.all(), 30)
    env = service_env(kafka_bootstrap, topics, f"twins-{suffix}")
    produce_synthetic(env, "json")
    outputs = run_over(env, topics, kafka_bootstrap, tmp_path_factory.mktemp("twins"), EVENTS)
    twins = outputs.predictions
    assert len(twins) == EVENTS and outputs.dead_letters == []
    assert all(values[0] is not None for values in twins.values())  # the boosters scored
    yield twins
    delete_topics(admin, topics.all())


@pytest.mark.parametrize("value_format", ["avro", "protobuf", "json_schema"])
def test_each_format_predicts_every_event_as_its_json_twin(
    value_format: str,
    stream: Stream,
    schema_registry_url: str,
    json_twins: dict[str, list[float | None]],
    tmp_path: Path,
) -> None:
    env = stream.env(
        SCHEMA_REGISTRY__URL=schema_registry_url, PROCESSING__INPUT_FORMAT=value_format
    )
    produce_synthetic(env, value_format)
    outputs = run_over(env, stream.topics, stream.bootstrap, tmp_path, EVENTS)
    assert outputs.reasons() == {}  # no dead letter
    got = outputs.predictions
    assert set(got) == set(json_twins) and len(got) == EVENTS
    for event_id, values in got.items():
        twin = json_twins[event_id]
        assert [v is None for v in values] == [t is None for t in twin], event_id
        diffs = [
            abs(v - t) for v, t in zip(values, twin, strict=True) if v is not None and t is not None
        ]
        assert max(diffs, default=0.0) <= TOLERANCE, (event_id, values, twin)


def bad_records(url: str, topic: str) -> dict[str, bytes]:
    """One record of each bad kind, keyed by the reason it must be dead-lettered with."""
    good = encoder(url, "avro", topic).encode(event_dict(seed=900))
    raw = event_dict(seed=901)
    del raw["user_id"]
    unresolvable = encoder(url, "avro", f"{topic}.other", avro_without_user_id()).encode(raw)
    proto = ProtobufSerializer(
        formats.proto_message_class(),
        registry_client(url),
        {"auto.register.schemas": True, "use.deprecated.format": False},
    )
    context = SerializationContext(f"{topic}.proto", MessageField.VALUE)
    wrong_type = proto(formats.dict_to_proto(event_dict(seed=902)), context)
    assert wrong_type is not None
    return {
        "not_registry_framed": json.dumps(event_dict(seed=903)).encode(),
        "truncated_frame": good[:4],
        "unknown_schema_id": good[:1] + (987_654_321).to_bytes(4, "big") + good[5:],
        "wrong_schema_type": bytes(wrong_type),
        "unresolvable_schema": unresolvable,
    }


def test_v1_and_v2_interleave_and_bad_input_is_dead_lettered_with_its_reason(
    stream: Stream, schema_registry_url: str, tmp_path: Path
) -> None:
    topic = stream.topics.features
    v1 = encoder(schema_registry_url, "avro", topic)
    v2 = encoder(schema_registry_url, "avro", topic, avro_v2())
    good = []
    for seed in range(20):
        raw = event_dict(seed=seed)
        value = v2.encode({**raw, "device": "watch"}) if seed % 2 else v1.encode(raw)
        good.append(keyed(value, seed))
    assert len({value[1:5] for _, value in good}) == 2  # two schema ids, interleaved
    bad = bad_records(schema_registry_url, topic)
    produce_raw(stream.bootstrap, topic, [*good, *((b"bad", v) for v in bad.values())])
    env = stream.env(SCHEMA_REGISTRY__URL=schema_registry_url, PROCESSING__INPUT_FORMAT="avro")
    outputs = run_over(env, stream.topics, stream.bootstrap, tmp_path, len(good) + len(bad))
    assert set(outputs.predictions) == {event_dict(seed=seed)["event_id"] for seed in range(20)}
    assert outputs.reasons() == bad  # each reason once, with the original bytes
    assert len(outputs.dead_letters) == len(bad)
