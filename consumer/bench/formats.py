"""Decoding cost per input format: the same features-only events as the service's JSON and
in the Schema Registry formats (Avro, Protobuf, JSON Schema), decoded by what a worker runs
(``consumer.intake.decode`` / ``RegistryDecoder``), on one thread.

The registry is confluent-kafka's in-memory client (``mock://``): a worker fetches each
schema once and then decodes from its cache, so the per-event cost measured here is the
cost on the hot path. ``python -m consumer.bench.formats`` prints the figures.
"""

from __future__ import annotations

import json
import sys
import uuid
from collections.abc import Callable, Sequence
from typing import Any, Final

import orjson

from consumer.intake.decode import decode
from consumer.schema_registry.decoding import RegistryDecoder
from consumer.schema_registry.encoding import RegistryEncoder

FORMATS: Final = ("json", "avro", "protobuf", "json_schema")
_TOPIC: Final = "bench.features"


def _rate(
    decode_one: Callable[[bytes], object], values: Sequence[bytes], seconds: float
) -> dict[str, Any]:
    from consumer.bench.limits import timed_loop

    for value in values:  # warm up: first-call costs and the schema cache
        decode_one(value)

    def one_pass() -> None:
        for value in values:
            decode_one(value)

    calls, elapsed, cpu = timed_loop(one_pass, seconds)
    count = calls * len(values)
    return {
        "events_per_s": round(count / elapsed, 1) if elapsed > 0 else None,
        "events_per_cpu_s": round(count / cpu, 1) if cpu > 0 else None,
        "events": count,
        "mean_bytes": round(sum(map(len, values)) / len(values), 1),
    }


def format_decode_rates(
    events: Sequence[dict[str, Any]], max_bytes: int, seconds: float
) -> dict[str, Any]:
    """events/s and events per CPU-second for each format, and each format's cost per event
    relative to JSON (``cost_vs_json``: 1.3 = 30 % more CPU per event). Blocks ~4 x
    ``seconds``."""
    from confluent_kafka.schema_registry import SchemaRegistryClient

    # A URL of its own: mock clients of one URL share their schemas.
    registry = SchemaRegistryClient.new_client({"url": f"mock://bench-{uuid.uuid4().hex}"})
    out: dict[str, Any] = {}
    json_values = [orjson.dumps(event) for event in events]
    out["json"] = _rate(
        lambda v: decode(v, max_bytes=max_bytes, strict_fields=False), json_values, seconds
    )
    for name in FORMATS[1:]:
        encoder = RegistryEncoder(registry, name, _TOPIC)
        values = [encoder.encode(event) for event in events]
        decoder = RegistryDecoder(
            registry, name, max_bytes=max_bytes, strict_fields=False, topic=_TOPIC
        )
        decoder.prepare(values)
        out[name] = _rate(decoder.decode, values, seconds)
    base = out["json"]["events_per_cpu_s"]
    for entry in out.values():
        per_cpu = entry["events_per_cpu_s"]
        entry["cost_vs_json"] = round(base / per_cpu, 2) if base and per_cpu else None
    return out


def _synthetic_events(count: int) -> list[dict[str, Any]]:
    from consumer.producer.synthetic_events import SyntheticEvents

    source = iter(SyntheticEvents(seed=7, activity_share=0.0))
    return [orjson.loads(next(source).value) for _ in range(count)]


def run(seconds: float = 2.0, count: int = 256) -> dict[str, Any]:
    from consumer.bench.machine import cpu_model, load_average

    rates = format_decode_rates(_synthetic_events(count), 262_144, seconds)
    return {"cpu_model": cpu_model(), "load_average": load_average(), "decode": rates}


if __name__ == "__main__":
    seconds_arg = float(sys.argv[1]) if len(sys.argv) > 1 else 2.0
    print(json.dumps(run(seconds_arg), indent=2))
