"""Registry payloads read without a JSON round trip (consumer/schema_registry/payloads.py):
the same event and the same dead-letter reasons as the JSON twin, a Protobuf week handed to
PAT's input matrix as one array, and the bench of both kinds of event.

The registry is confluent-kafka's in-memory ``mock://`` client (pure decoding logic).
"""

from __future__ import annotations

import math
import uuid
from typing import Any

import numpy as np
import orjson
import pytest
from confluent_kafka.schema_registry import SchemaRegistryClient

from consumer.ensemble.scoring import activity_matrix
from consumer.errors import InvalidEvent
from consumer.intake.decode import decode
from consumer.schema_registry.decoding import RegistryDecoder
from consumer.schema_registry.encoding import RegistryEncoder
from schemas.activity_week import ActivityWeek
from tests.fakes import event_dict

TOPIC = "mood.features.v1"
MAX = 262_144
BINARY = ("avro", "protobuf")


def encoded(input_format: str, raw: dict[str, Any]) -> tuple[RegistryDecoder, bytes]:
    registry = SchemaRegistryClient.new_client({"url": f"mock://pay-{uuid.uuid4().hex}"})
    value = RegistryEncoder(registry, input_format, TOPIC).encode(raw)
    dec = RegistryDecoder(registry, input_format, max_bytes=MAX, strict_fields=False)
    dec.prepare([value])
    return dec, value


def json_outcome(raw: dict[str, Any]) -> str:
    """The JSON twin's reason, or "ok"."""
    try:
        decode(orjson.dumps(raw), max_bytes=MAX, strict_fields=False)
    except InvalidEvent as exc:
        return exc.reason
    return "ok"


def registry_outcome(input_format: str, raw: dict[str, Any]) -> str:
    dec, value = encoded(input_format, raw)
    try:
        dec.decode(value)
    except InvalidEvent as exc:
        return exc.reason
    return "ok"


def test_a_protobuf_week_reaches_pat_input_as_one_array_equal_to_json() -> None:
    raw = event_dict(features=False, activity=True, seed=3)
    raw["activity"][5] = 0.25
    dec, value = encoded("protobuf", raw)
    event = dec.decode(value).event
    twin = decode(orjson.dumps(raw), max_bytes=MAX, strict_fields=False).event
    assert isinstance(event.activity, ActivityWeek)
    assert event == twin and event.activity == raw["activity"]
    rows = activity_matrix([event, twin], (0, 1))
    assert rows.dtype == np.float32 and np.array_equal(rows[0], rows[1])


@pytest.mark.parametrize("input_format", BINARY)
def test_an_activity_event_dumps_as_its_json_twin(input_format: str) -> None:
    raw = event_dict(activity=True, seed=4, coverage=0.5)
    dec, value = encoded(input_format, raw)
    dumped = dec.decode(value).event.model_dump(mode="json", exclude_none=True)
    assert dumped == orjson.loads(orjson.dumps(raw))


@pytest.mark.parametrize("input_format", BINARY)
@pytest.mark.parametrize(
    ("minute", "count"),
    [(0, -1.0), (7, math.nan), (9, math.inf), (11, 2e7)],
)
def test_a_bad_week_is_refused_with_the_json_reason(
    input_format: str, minute: int, count: float
) -> None:
    raw = event_dict(features=False, activity=True)
    raw["activity"][minute] = count
    expected = "not_finite" if not math.isfinite(count) else json_outcome(raw)
    assert registry_outcome(input_format, raw) == expected
    assert expected in ("not_finite", "out_of_range")


@pytest.mark.parametrize("input_format", BINARY)
@pytest.mark.parametrize("minutes", [10_079, 10_081])
def test_a_week_of_the_wrong_length_is_out_of_range(input_format: str, minutes: int) -> None:
    raw = event_dict(features=False, activity=True)
    raw["activity"] = [1.0] * minutes
    assert json_outcome(raw) == registry_outcome(input_format, raw) == "out_of_range"


@pytest.mark.parametrize("input_format", BINARY)
@pytest.mark.parametrize(
    ("field", "text"),
    [
        ("as_of", "2026-11-26T00:00:00"),  # lax Python mode would take it; JSON does not
        ("as_of", "2026-11-26T00:00:00Z"),
        ("as_of", "20261126"),
        ("emitted_at", "2026-11-27"),
        ("emitted_at", "2026-11-27T09:59:00"),  # no offset: not an aware time
        ("emitted_at", "2026-11-27 09:59:00+00:00"),
    ],
)
def test_dates_and_times_parse_exactly_as_in_json(input_format: str, field: str, text: str) -> None:
    raw = event_dict()
    raw[field] = text
    assert registry_outcome(input_format, raw) == json_outcome(raw)


def test_a_protobuf_feature_of_zero_is_present_and_an_unset_one_is_null() -> None:
    raw = event_dict(seed=2)
    raw["features"]["ST_long_MN"] = 0.0
    raw["features"]["ST_long_SD"] = None
    dec, value = encoded("protobuf", raw)
    features = dec.decode(value).event.features
    assert features is not None
    assert features["ST_long_MN"] == 0.0 and features["ST_long_SD"] is None


def test_a_json_schema_payload_that_is_not_json_is_a_truncated_frame() -> None:
    dec, value = encoded("json_schema", event_dict())
    with pytest.raises(InvalidEvent) as caught:
        dec.decode(value[:-7])
    assert caught.value.reason == "truncated_frame"


def test_an_avro_writer_schema_is_fetched_and_parsed_once_per_id() -> None:
    dec, value = encoded("avro", event_dict())
    registry: Any = dec._client
    calls: list[int] = []
    original = registry.get_schema

    def counted(schema_id: int, *args: Any, **kwargs: Any) -> Any:
        calls.append(schema_id)
        return original(schema_id, *args, **kwargs)

    registry.get_schema = counted
    for _ in range(5):
        dec.decode(value)
    assert calls == [int.from_bytes(value[1:5], "big")]  # the first record's parse only


def test_the_format_bench_measures_activity_events_to_pat_input() -> None:
    from consumer.bench.formats import FORMATS, format_decode_rates

    weeks = [event_dict(features=False, activity=True, seed=s) for s in range(2)]
    rates = format_decode_rates(weeks, MAX, seconds=0.01, with_activity=True)
    assert list(rates) == list(FORMATS)
    for entry in rates.values():
        assert entry["events"] >= 6 and entry["events_per_cpu_s"] > 0
    assert rates["json"]["cost_vs_json"] == 1.0


@pytest.mark.parametrize("input_format", ("avro", "protobuf", "json_schema"))
def test_a_remembered_header_reads_as_confluent_kafka_reads_it(input_format: str) -> None:
    from consumer.schema_registry.framing import HeaderReader, frame_of

    _, value = encoded(input_format, event_dict())
    schema_type = "PROTOBUF" if input_format == "protobuf" else "AVRO"
    headers = HeaderReader()
    first, again = headers.frame(value, schema_type), headers.frame(value, schema_type)
    expected_id, expected = frame_of(value, schema_type)
    for schema_id, stream in (first, again):
        assert schema_id == expected_id and stream.tell() == expected.tell() > 4
    with pytest.raises(InvalidEvent) as caught:
        headers.frame(value[:4], schema_type)
    assert caught.value.reason == "truncated_frame"
