"""Schema Registry input through the pipeline and the poll loop (fake messages, fake clock,
confluent-kafka's ``mock://`` registry client, a registry that refuses connections), the
health report of a registry wait, the settings and the schema files' drift."""

from __future__ import annotations

import json
from typing import Any

import pytest
from confluent_kafka import TopicPartition
from pydantic import SecretStr, ValidationError

from consumer.engine.batch_records import Polled
from consumer.engine.pipeline import Pipeline
from consumer.engine.runner import Runner
from consumer.ensemble.scoring import Ensemble
from consumer.observability.health import HealthReporter, HealthView
from consumer.schema_registry.client import client_config
from consumer.schema_registry.decoding import RegistryDecoder
from consumer.schema_registry.encoding import RegistryEncoder
from consumer.schema_registry.wait import RegistryWait
from consumer.settings import ProcessingSettings, SchemaRegistrySettings, Settings
from schemas import FeatureEvent
from schemas import registry_formats as formats
from tests.fakes import FakeClock, FakeMessage, booster_lanes, event_dict
from tests.fakes.kafka import FakeConsumer, FakePublisher
from tests.unit.schema_registry.test_schema_registry_decoding import TOPIC, DownRegistry, client

SETTINGS = Settings(
    processing=ProcessingSettings(input_format="avro"),
    schema_registry=SchemaRegistrySettings(url="http://127.0.0.1:1"),
)


def registry_pipeline(registry: Any, clock: FakeClock) -> Pipeline:
    dec = RegistryDecoder(registry, "avro", max_bytes=262_144, strict_fields=False, topic=TOPIC)
    ensemble = Ensemble(booster_lanes(clock), None, SETTINGS.ensemble, clock)
    return Pipeline(ensemble, SETTINGS, clock, None, dec)


def polled(values: list[bytes], clock: FakeClock) -> list[Polled]:
    return [Polled(FakeMessage(v, i, 0), clock.monotonic()) for i, v in enumerate(values)]


def test_bad_registry_records_are_dead_letters_with_their_reason_and_bytes() -> None:
    registry, clock = client(), FakeClock()
    good = RegistryEncoder(registry, "avro", TOPIC).encode(event_dict(seed=1))
    unknown = good[:1] + (4242).to_bytes(4, "big") + good[5:]
    batch = polled([good, good[:4], unknown, b'{"plain": "json"}'], clock)
    result = registry_pipeline(registry, clock).process(batch)
    kinds = [[r.kind for r in s.records] for s in result.sources]
    assert kinds == [["prediction"], ["dead_letter"], ["dead_letter"], ["dead_letter"]]
    reasons = [s.invalid_reason for s in result.sources]
    assert reasons == [None, "truncated_frame", "unknown_schema_id", "not_registry_framed"]
    letter = result.sources[2].records[0]
    assert letter.value == unknown  # the original bytes, for a redrive
    assert dict(letter.headers or [])["error.class"] == b"InvalidEvent.unknown_schema_id"


def held_runner(registry: Any) -> tuple[Runner, FakeConsumer, FakeClock]:
    clock = FakeClock()
    consumer = FakeConsumer()
    pipeline = registry_pipeline(registry, clock)
    ensemble = Ensemble([], None, SETTINGS.ensemble, clock)
    loop = Runner(consumer, FakePublisher(), pipeline, ensemble, SETTINGS, clock)
    loop.membership.on_assign(None, [TopicPartition(TOPIC, 0), TopicPartition(TOPIC, 1)])
    consumer.calls.clear()
    return loop, consumer, clock


def test_an_unreachable_registry_holds_the_batch_and_pauses_until_a_retry_works() -> None:
    down = DownRegistry()
    loop, consumer, clock = held_runner(down)
    value = RegistryEncoder(client(), "avro", TOPIC)
    batch = polled([value.encode(event_dict())], clock)
    loop._process(batch)
    assert consumer.calls == [("pause", [0, 1])]
    wait = loop._registry_wait
    assert wait.holding and "did not answer" in wait.reason
    assert not wait.due(clock.monotonic() + 0.49) and wait.due(clock.monotonic() + 0.5)
    loop._process(wait.take())  # still down: held again, the pause doubled, no second pause
    assert wait.holding and not wait.due(clock.monotonic() + 0.99)
    assert consumer.calls == [("pause", [0, 1])]
    assert down.calls == 2


def test_revoking_every_held_partition_ends_the_wait() -> None:
    loop, consumer, clock = held_runner(DownRegistry())
    value = RegistryEncoder(client(), "avro", TOPIC)
    loop._process(polled([value.encode(event_dict())], clock))
    assert loop._drop_held({(TOPIC, 0)}) == 1
    assert not loop._registry_wait.holding and loop._registry_wait.since is None
    assert consumer.calls[-1] == ("resume", [1])  # what this worker still owns


def test_backoff_doubles_to_its_cap_and_resets_after_a_success() -> None:
    wait: RegistryWait[int] = RegistryWait(0.5, 2.0)
    pauses = [wait.hold([1], now=0.0, reason="down") for _ in range(4)]
    assert pauses == [0.5, 1.0, 2.0, 2.0]
    assert wait.recovered() == 0.0
    assert wait.hold([1], now=5.0, reason="down") == 0.5


def test_readyz_says_the_worker_waits_for_the_registry(tmp_path: Any) -> None:
    clock = FakeClock()
    HealthReporter(tmp_path / "worker-0.json", clock).update(
        ready=True, assigned=True, detail={"waiting_for_schema_registry": "refused"}
    )
    ready, body = HealthView(tmp_path, clock, stale_after_s=30).readyz()
    assert not ready
    assert body["workers"]["0"]["problems"] == ["waiting for the schema registry: refused"]


def test_a_registry_format_needs_a_registry_url_and_secrets_stay_hidden() -> None:
    with pytest.raises(ValidationError, match="MOODSTREAM_SCHEMA_REGISTRY__URL"):
        Settings(processing=ProcessingSettings(input_format="protobuf"))
    with pytest.raises(ValidationError, match="not an http"):
        Settings(schema_registry=SchemaRegistrySettings(url="registry:8081"))
    settings = Settings(
        schema_registry=SchemaRegistrySettings(
            url="https://sr:8081", basic_auth_user_info=SecretStr("me:s3cret")
        ),
    )
    assert "s3cret" not in repr(settings) and "s3cret" not in str(settings.model_dump())
    conf = client_config(settings.schema_registry)
    assert conf["basic.auth.user.info"] == "me:s3cret" and conf["max.retries"] == 0


def test_the_avro_and_proto_files_match_the_contract() -> None:
    on_disk = {
        name: (formats.SCHEMA_DIR / name).read_text(encoding="utf-8")
        for name in (formats.AVRO_FILE, formats.PROTO_FILE)
    }
    hint = "run `python -m schemas.registry_formats`"
    assert on_disk[formats.AVRO_FILE] == formats.render_avro(), hint
    assert on_disk[formats.PROTO_FILE] == formats.render_proto(), hint
    avro = json.loads(on_disk[formats.AVRO_FILE])
    assert [f["name"] for f in avro["fields"]] == list(FeatureEvent.model_fields)
    features = avro["fields"][5]["type"][1]["fields"]
    contract_features = FeatureEvent.model_json_schema()["$defs"]["Features"]["properties"]
    assert [f["name"] for f in features] == list(contract_features)
    descriptor = formats.proto_message_class().DESCRIPTOR
    assert [f.name for f in descriptor.fields] == list(FeatureEvent.model_fields)


def test_schemas_register_uses_the_subject_of_its_strategy_and_is_idempotent() -> None:
    from consumer.commands.schemas import register_schema

    registry = client()
    first = register_schema(registry, "protobuf", TOPIC, "topic")
    assert first["subject"] == f"{TOPIC}-value" and first["type"] == "PROTOBUF"
    assert register_schema(registry, "protobuf", TOPIC, "topic") == first
    record = register_schema(registry, "avro", TOPIC, "record")
    assert record["subject"] == "moodstream.v1.FeatureEvent" and record["id"] != first["id"]


class TailMessage(FakeMessage):
    def headers(self) -> list[tuple[str, bytes]]:
        return []


def test_tail_shows_registry_records_as_their_event_and_schema_id() -> None:
    from consumer.commands.tail import render
    from consumer.schema_registry.decoding import RegistryDecoder

    registry = client()
    value = RegistryEncoder(registry, "avro", TOPIC).encode(event_dict(seed=2))
    dec = RegistryDecoder(registry, "auto", max_bytes=1 << 20, strict_fields=False, topic=TOPIC)

    def framed(raw: bytes) -> Any:
        return {"event": dec.decode(raw).event.model_dump(mode="json", exclude_none=True)}

    line = json.loads(render(TailMessage(value, 5, 0), framed))
    assert line["offset"] == 5 and line["value"]["event"]["user_id"] == "user-2"
    assert json.loads(render(TailMessage(b'{"a": 1}', 6, 0), framed))["value"] == {"a": 1}


def test_a_missing_registry_tls_file_is_refused_at_start_up() -> None:
    with pytest.raises(ValidationError, match=r"no such file: /nope/ca\.pem"):
        Settings(schema_registry=SchemaRegistrySettings(ssl_ca_location="/nope/ca.pem"))
