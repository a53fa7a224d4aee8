"""``moodstream tail TOPIC``: print a topic's records as JSON lines (read_committed).

TOPIC is one of ``features``, ``predictions``, ``alerts``, ``dlq``, ``overflow`` (the
configured names) or any topic name. Reads with a throwaway group that commits nothing.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
import uuid
from collections.abc import Callable
from typing import Any

from consumer.commands.conventions import deprecated_option
from consumer.errors import ConfigError, InvalidEvent, SchemaRegistryUnavailable
from consumer.settings import Settings

ALIASES = ("features", "predictions", "alerts", "dlq", "overflow")


def register(sub: Any) -> None:
    parser = sub.add_parser("tail", help="print a topic's records as JSON lines")
    parser.add_argument("topic", help=f"{', '.join(ALIASES)} or a topic name")
    parser.add_argument("--from-beginning", action="store_true", help="start at the oldest record")
    parser.add_argument("--count", type=int, default=None, help="stop after N records")
    parser.add_argument(
        "--timeout-s",
        dest="timeout",
        type=float,
        default=None,
        metavar="S",
        help="stop after S seconds without a record",
    )
    deprecated_option(parser, "--timeout", "--timeout-s", "timeout")
    parser.set_defaults(handler=handle)


def resolve_topic(name: str, settings: Settings) -> str:
    return str(getattr(settings.topics, name)) if name in ALIASES else name


def handle(args: argparse.Namespace, settings: Settings) -> int:
    """Blocks until Ctrl-C, ``--count`` records or ``--timeout-s`` idle seconds.

    Raises ConfigError (bad arguments), KafkaSetupError (cluster unreachable within
    KAFKA__CONNECT_TIMEOUT_S, or no such topic) before reading anything."""
    from confluent_kafka import Consumer

    from consumer.commands import bootstrap_for
    from consumer.kafka.admin import require_topics, wait_for_cluster
    from consumer.kafka.config import client_config, new_client

    if args.count is not None and args.count < 1:
        raise ConfigError("--count must be >= 1")
    if args.timeout is not None and not (math.isfinite(args.timeout) and args.timeout > 0):
        raise ConfigError("--timeout-s must be a finite number of seconds > 0")
    config = client_config(settings.kafka, bootstrap_for(settings))
    topic = resolve_topic(args.topic, settings)
    timeout_s = settings.kafka.connect_timeout_s
    metadata = wait_for_cluster(config, timeout_s)
    role = args.topic if args.topic in ALIASES else "topic"
    require_topics(config, {role: topic}, metadata, timeout_s)
    conf: dict[str, Any] = dict(config)
    conf.update(
        {
            "group.id": f"moodstream-tail-{uuid.uuid4().hex[:8]}",
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest" if args.from_beginning else "latest",
            "isolation.level": "read_committed",
        }
    )
    framed = framed_renderer(settings)
    consumer = new_client(Consumer, conf)
    consumer.subscribe([topic])
    printed, last_record = 0, time.monotonic()
    try:
        while args.count is None or printed < args.count:
            msg = consumer.poll(0.5)
            if msg is None or msg.error() is not None:
                if args.timeout is not None and time.monotonic() - last_record > args.timeout:
                    break
                continue
            print(render(msg, framed), flush=True)
            printed += 1
            last_record = time.monotonic()
    except KeyboardInterrupt:
        pass
    finally:
        consumer.close()
    print(f"{printed} record(s)", file=sys.stderr)
    return 0


def framed_renderer(settings: Settings) -> Callable[[bytes], Any]:
    """Schema Registry records (magic byte 0) as the event they decode to, with their
    schema id; without ``SCHEMA_REGISTRY__URL`` only the schema id is shown. Blocks on the
    registry once per new schema id."""
    from consumer.schema_registry.decoding import schema_id_of

    if not settings.schema_registry.url:
        return lambda raw: {"schema_id": _schema_id(schema_id_of, raw)}
    from consumer.schema_registry.client import create_client
    from consumer.schema_registry.decoding import RegistryDecoder

    decoder = RegistryDecoder(  # tail shows what is there, of any size
        create_client(settings.schema_registry),
        "auto",
        max_bytes=1 << 30,
        strict_fields=False,
        topic=settings.topics.features,
    )

    def render_framed(raw: bytes) -> Any:
        try:
            event = decoder.decode(raw).event.model_dump(mode="json", exclude_none=True)
        except (InvalidEvent, SchemaRegistryUnavailable) as exc:
            return {"schema_id": _schema_id(schema_id_of, raw), "undecodable": str(exc)}
        return {"schema_id": schema_id_of(raw), "event": event}

    return render_framed


def _schema_id(read: Callable[[bytes], int], raw: bytes) -> int | None:
    try:
        return read(raw)
    except InvalidEvent:
        return None


def render(msg: Any, framed: Callable[[bytes], Any] | None = None) -> str:
    """One JSON line: the value as JSON when it is, a registry record through ``framed``,
    else as text; headers when present."""
    raw = msg.value()
    try:
        if raw and raw[0] == 0 and framed is not None:
            value: Any = framed(raw)
        else:
            value = json.loads(raw) if raw else None
    except (ValueError, UnicodeDecodeError):
        value = raw.decode("utf-8", errors="replace")
    line: dict[str, Any] = {"partition": msg.partition(), "offset": msg.offset(), "value": value}
    headers = msg.headers()
    if headers:
        line["headers"] = {k: (v or b"").decode("utf-8", errors="replace") for k, v in headers}
    return json.dumps(line)
