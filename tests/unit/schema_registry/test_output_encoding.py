"""Outputs in the Schema Registry formats (``PROCESSING__OUTPUT_FORMAT``): the generated
Avro/Protobuf files against the contract (drift), each kind encoded by confluent-kafka's
serializers and read back by its deserializers (``mock://`` registry), the pipeline's
seam (format-named ``content-type``, the same values as JSON) and the settings."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer
from confluent_kafka.schema_registry.json_schema import JSONDeserializer
from confluent_kafka.schema_registry.protobuf import ProtobufDeserializer
from confluent_kafka.serialization import MessageField, SerializationContext
from pydantic import ValidationError

from consumer.engine.batch_records import OutRecord, SourceResult
from consumer.engine.output_values import encode_outputs, encoded
from consumer.engine.pipeline import Pipeline
from consumer.ensemble.scoring import Ensemble
from consumer.errors import SchemaRegistryUnavailable
from consumer.schema_registry import apicurio
from consumer.schema_registry import output_encoding as out
from consumer.schema_registry.output_encoding import register_waiting
from consumer.settings import Settings
from schemas import (
    Alert,
    AlertKind,
    ModelReport,
    ModelStatus,
    NextDayRisk,
    Prediction,
    SourcePosition,
    output_formats,
    registry_formats,
)
from tests.fakes import FakeClock, booster_lanes, event_dict
from tests.unit.schema_registry.test_schema_registry_decoding import client
from tests.unit.schema_registry.test_schema_registry_flow import polled

FORMATS = ("avro", "protobuf", "json_schema")
TOPICS = {"prediction": "out.p", "alert": "out.a", "feature_event": "out.f"}


def read_back(
    registry: SchemaRegistryClient, fmt: str, kind: str, value: bytes, topic: str = ""
) -> Any:
    """What a downstream consumer with confluent-kafka's own deserializer reads."""
    context = SerializationContext(topic or TOPICS[kind], MessageField.VALUE)
    if fmt == "avro":
        return AvroDeserializer(registry)(value, context)
    if fmt == "json_schema":
        return JSONDeserializer(None, schema_registry_client=registry)(value, context)
    conf = {"use.deprecated.format": False}
    message = ProtobufDeserializer(out.proto_message_class(kind), conf)(value, context)
    if kind == "feature_event":
        return registry_formats.proto_to_dict(message)
    return output_formats.proto_to_dict(message)


def prediction() -> Prediction:
    at = datetime(2026, 12, 5, 9, 0, tzinfo=UTC)
    report = ModelReport(status=ModelStatus.OK, version="1.0", latency_ms=2.5)
    skipped = ModelReport(status=ModelStatus.SKIPPED, version=None, latency_ms=None, reason="x")
    return Prediction(
        event_id=event_dict()["event_id"], user_id="u-1", as_of=at.date(),
        next_day_risk=NextDayRisk(depression=0.25, hypomania=None, mania=0.125),
        current_depression=None, ensemble_depression=0.25,
        models={"depression": report, "pat": skipped}, partial=True, latency_ms=12.345,
        source=SourcePosition(topic="in", partition=3, offset=2**40), predicted_at=at,
        clinically_valid=True, model_set="a" * 64, ensemble_rule="xgboost_only", coverage=0.5,
    )  # fmt: skip


def alert() -> Alert:
    at = datetime(2026, 12, 5, 9, 0, tzinfo=UTC)
    return Alert(
        kind=AlertKind.MODEL_TIMEOUT, event_id=event_dict()["event_id"], user_id="u-1",
        model="pat", budget_ms=100.0, elapsed_ms=150.5, at=at,
    )  # fmt: skip


def test_the_prediction_and_alert_avro_and_proto_files_match_the_contract() -> None:
    hint = "run `python -m schemas.output_formats`"
    for kind, model in output_formats.MODELS.items():
        avro = (output_formats.SCHEMA_DIR / f"{kind}.v1.avsc").read_text(encoding="utf-8")
        proto = (output_formats.SCHEMA_DIR / f"{kind}.v1.proto").read_text(encoding="utf-8")
        assert avro == output_formats.render_avro(kind), hint
        assert proto == output_formats.render_proto(kind), hint
        assert [f["name"] for f in json.loads(avro)["fields"]] == list(model.model_fields)
        descriptor = output_formats.proto_message_class(kind).DESCRIPTOR
        assert [f.name for f in descriptor.fields] == list(model.model_fields)


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_kind_reads_back_as_the_json_contract_with_confluents_deserializers(
    fmt: str,
) -> None:
    registry = client()
    encoder = out.RegistryOutputEncoder(registry, fmt, TOPICS)
    encoder.register()
    records = {
        "prediction": prediction().model_dump_json().encode(),
        "alert": alert().model_dump_json().encode(),
        "feature_event": orjson.dumps(event_dict(seed=3)),
    }
    for kind, as_json in records.items():
        value = encoder.encode_json(kind, as_json)
        assert value[0] == 0  # the registry's wire format: magic byte, schema id
        expected = orjson.loads(as_json)
        if kind == "feature_event" and fmt == "avro":  # absent fields read null
            expected = {"activity": None, "coverage": None, **expected}
        assert read_back(registry, fmt, kind, value) == expected, (fmt, kind)
    assert encoder.content_type == out.CONTENT_TYPES[fmt].encode()
    assert set(registry.get_subjects()) == {f"{topic}-value" for topic in TOPICS.values()}


def pipeline(clock: FakeClock, encoder: out.OutputEncoder | None) -> Pipeline:
    settings = Settings()
    ensemble = Ensemble(booster_lanes(clock), None, settings.ensemble, clock)
    return Pipeline(ensemble, settings, clock, output_encoder=encoder)


@pytest.mark.parametrize("fmt", ["avro", "protobuf"])
def test_the_pipeline_writes_the_format_with_its_content_type_and_the_json_values(
    fmt: str,
) -> None:
    registry, clock = client(), FakeClock()
    topics = {"prediction": Settings().topics.predictions}
    encoder = out.RegistryOutputEncoder(registry, fmt, topics)
    batch = polled([orjson.dumps(event_dict(seed=s)) for s in range(3)], clock)
    as_json = pipeline(clock, None).process(batch)
    framed = pipeline(clock, encoder).process(batch)
    for plain, rewritten in zip(as_json.sources, framed.sources, strict=True):
        [json_record], [record] = plain.records, rewritten.records
        assert dict(json_record.headers or [])["content-type"] == b"application/json"
        headers = dict(record.headers or [])
        assert headers["content-type"] == out.CONTENT_TYPES[fmt].encode()
        assert headers["moodstream.kind"] == b"prediction"
        assert json_record.value is not None and record.value is not None
        got = read_back(registry, fmt, "prediction", record.value, topics["prediction"])
        assert got == orjson.loads(json_record.value)


def test_the_json_encoder_keeps_the_bytes() -> None:
    value = prediction().model_dump_json().encode()
    encoder = out.JsonOutputEncoder()
    assert encoder.encode_json("prediction", value) is value
    assert encoder.content_type == b"application/json"


def test_a_registry_output_format_needs_a_registry_url() -> None:
    with pytest.raises(ValidationError, match=r"OUTPUT_FORMAT=avro.*SCHEMA_REGISTRY__URL"):
        Settings(processing={"output_format": "avro"})  # type: ignore[arg-type]
    settings = Settings(
        processing={"output_format": "protobuf"},  # type: ignore[arg-type]
        schema_registry={"url": "http://127.0.0.1:1"},  # type: ignore[arg-type]
    )
    assert settings.processing.output_format == "protobuf"
    assert Settings().processing.output_format == "json"
    with pytest.raises(ValueError, match="no registry output format"):
        out.RegistryOutputEncoder(client(), "json", TOPICS)


def test_protobuf_subjects_get_compatibility_none_after_registration() -> None:
    relaxed: list[str] = []
    registry = client()
    out.RegistryOutputEncoder(registry, "protobuf", TOPICS, relaxed.append).register()
    assert relaxed == [f"{topic}-value" for topic in TOPICS.values()]
    assert set(registry.get_subjects()) == set(relaxed)  # each existed when relaxed
    relaxed.clear()
    out.RegistryOutputEncoder(client(), "avro", TOPICS, relaxed.append).register()
    assert relaxed == []
    url = "http://sr:8080/apis/ccompat/v6"
    rules = "http://sr:8080/apis/registry/v2/groups/default/artifacts/out.p-value/rules"
    assert apicurio.artifact_rules_url(url, "out.p-value") == rules
    assert apicurio.artifact_rules_url("https://confluent:8081", "out.p-value") is None


def test_a_windowed_feature_event_is_encoded_and_other_kinds_keep_their_bytes() -> None:
    registry = client()
    encoder = out.RegistryOutputEncoder(
        registry, "avro", {"feature_event": TOPICS["feature_event"]}
    )
    event = orjson.dumps(event_dict(seed=5))
    windowed = OutRecord(TOPICS["feature_event"], b"u", event, None, kind="feature_event")
    letter = OutRecord("dlq", b"u", b"raw", [("error.class", b"x")], kind="dead_letter")
    source = SourceResult(("in", 0), 7, 0.0, [windowed, letter])
    encode_outputs([source], encoder)
    [framed, kept] = source.records
    assert kept is letter
    assert framed.headers == [("content-type", out.CONTENT_TYPES["avro"].encode())]
    assert framed.value is not None
    got = read_back(registry, "avro", "feature_event", framed.value)
    assert got == {"activity": None, "coverage": None, **orjson.loads(event)}
    prediction_record = OutRecord("p", b"u", prediction().model_dump_json().encode())
    assert encoded(prediction_record, encoder) is prediction_record  # not its kind


class FlakyRegistration:
    """Fails ``failures`` times (the registry did not answer), then registers."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.calls = 0

    def __call__(self) -> None:
        self.calls += 1
        if self.calls <= self.failures:
            raise SchemaRegistryUnavailable("the schema registry did not answer")


def test_registration_waits_for_the_registry_with_backoff_then_gives_up() -> None:
    clock, reasons = FakeClock(), list[str]()
    start = clock.monotonic()
    flaky = FlakyRegistration(failures=3)
    register_waiting(flaky, clock.monotonic, 20.0, (0.5, 2.0), clock.advance, reasons.append)
    assert flaky.calls == 4 and len(reasons) == 3
    assert clock.monotonic() - start == pytest.approx(0.5 + 1.0 + 2.0)
    down = FlakyRegistration(failures=1_000)
    with pytest.raises(SchemaRegistryUnavailable):
        register_waiting(down, clock.monotonic, 5.0, (0.5, 2.0), clock.advance)
    assert down.calls == 4  # at 0, 0.5, 1.5 and 3.5 s; the next (5.5 s) is past 5 s
