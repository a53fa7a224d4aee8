"""Decoding cost per input format: the same events as the service's JSON and in the Schema
Registry formats (Avro, Protobuf, JSON Schema), decoded by what a worker runs
(``consumer.intake.decode`` / ``RegistryDecoder``), on one thread, for features-only events
and for activity events (a week of minute counts each).

An activity event's cost includes its row of PAT's input matrix
(``consumer.ensemble.scoring.activity_matrix``): that is where the week's numbers go, and
the formats differ in how they get there (JSON text, or binary doubles).

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

from consumer.intake.decode import Decoded, decode
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


def _to_pat_row(decode_one: Callable[[bytes], Decoded]) -> Callable[[bytes], object]:
    """Decode, then build the event's row of PAT's input matrix (as the ensemble does)."""
    from consumer.ensemble.scoring import activity_matrix

    def run(value: bytes) -> object:
        return activity_matrix([decode_one(value).event], (0,))

    return run


def format_decode_rates(
    events: Sequence[dict[str, Any]],
    max_bytes: int,
    seconds: float,
    *,
    with_activity: bool = False,
) -> dict[str, Any]:
    """events/s and events per CPU-second for each format, and each format's cost per event
    relative to JSON (``cost_vs_json``: 1.3 = 30 % more CPU per event). With
    ``with_activity`` each decode also builds the event's PAT input row. Blocks ~4 x
    ``seconds``."""
    from confluent_kafka.schema_registry import SchemaRegistryClient

    # A URL of its own: mock clients of one URL share their schemas.
    registry = SchemaRegistryClient.new_client({"url": f"mock://bench-{uuid.uuid4().hex}"})
    out: dict[str, Any] = {}
    wrap = _to_pat_row if with_activity else (lambda f: f)
    json_values = [orjson.dumps(event) for event in events]
    out["json"] = _rate(
        wrap(lambda v: decode(v, max_bytes=max_bytes, strict_fields=False)), json_values, seconds
    )
    for name in FORMATS[1:]:
        encoder = RegistryEncoder(registry, name, _TOPIC)
        values = [encoder.encode(event) for event in events]
        decoder = RegistryDecoder(
            registry, name, max_bytes=max_bytes, strict_fields=False, topic=_TOPIC
        )
        decoder.prepare(values)
        out[name] = _rate(wrap(decoder.decode), values, seconds)
    base = out["json"]["events_per_cpu_s"]
    for entry in out.values():
        per_cpu = entry["events_per_cpu_s"]
        entry["cost_vs_json"] = round(base / per_cpu, 2) if base and per_cpu else None
    return out


def synthetic_events(count: int, *, activity: bool) -> list[dict[str, Any]]:
    """``count`` contract dicts: features-only, or each with a week of activity."""
    from consumer.producer.synthetic_events import SyntheticEvents

    source = iter(SyntheticEvents(seed=7, activity_share=1.0 if activity else 0.0))
    return [orjson.loads(next(source).value) for _ in range(count)]


def run(seconds: float = 2.0, count: int = 256, activity_count: int = 16) -> dict[str, Any]:
    """Both kinds of event in every format, with the CPU model and load. Blocks ~8 x
    ``seconds``."""
    from consumer.bench.machine import cpu_model, load_average

    max_bytes = 1_048_576
    features = synthetic_events(count, activity=False)
    weeks = synthetic_events(activity_count, activity=True)
    return {
        "cpu_model": cpu_model(),
        "load_average": load_average(),
        "decode": {
            "features_only": format_decode_rates(features, max_bytes, seconds),
            "activity": format_decode_rates(weeks, max_bytes, seconds, with_activity=True),
        },
    }


if __name__ == "__main__":
    seconds_arg = float(sys.argv[1]) if len(sys.argv) > 1 else 2.0
    print(json.dumps(run(seconds_arg), indent=2))
