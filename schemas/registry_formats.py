"""The feature event in the Schema Registry formats: Avro and Protobuf, generated from the
pydantic contract (``schemas/events.py``) so that there is one contract. The JSON Schema is
the exported ``feature_event.v1.schema.json`` (``schemas/export.py``).

Every field keeps the JSON contract's representation: ``as_of`` and ``emitted_at`` are the
same strings as in JSON (a date and an RFC 3339 time), each feature is a nullable double,
``activity`` a list of doubles. A decoded record therefore validates through exactly the
same pydantic model as a JSON event.

``python -m schemas.registry_formats`` rewrites ``feature_event.v1.avsc`` and
``feature_event.v1.proto``; a test fails when the files drift. Pure; no I/O at import.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any, Final

from google.protobuf import descriptor_pb2, message_factory
from google.protobuf.message import Message

from schemas.events import FEATURE_NAMES

SCHEMA_DIR: Final = Path(__file__).resolve().parent
AVRO_FILE: Final = "feature_event.v1.avsc"
PROTO_FILE: Final = "feature_event.v1.proto"
JSON_SCHEMA_FILE: Final = "feature_event.v1.schema.json"
NAMESPACE: Final = "moodstream.v1"
RECORD_NAME: Final = "FeatureEvent"
_PROTO_PACKAGE: Final = NAMESPACE
#: The event's scalar fields in order: (name, Avro type, proto3 type).
_SCALARS: Final = (
    ("schema_version", "int", "int32"),
    ("event_id", "string", "string"),
    ("user_id", "string", "string"),
    ("as_of", "string", "string"),
    ("emitted_at", "string", "string"),
)


def avro_schema() -> dict[str, Any]:
    """The Avro record of the feature event (v1). Pure."""
    nullable_double = ["null", "double"]
    features = {
        "type": "record",
        "name": "Features",
        "fields": [{"name": n, "type": nullable_double, "default": None} for n in FEATURE_NAMES],
    }
    fields: list[dict[str, Any]] = [{"name": n, "type": t} for n, t, _ in _SCALARS]
    fields.append({"name": "features", "type": ["null", features], "default": None})
    activity = {"type": "array", "items": "double"}
    fields.append({"name": "activity", "type": ["null", activity], "default": None})
    fields.append({"name": "coverage", "type": nullable_double, "default": None})
    return {"type": "record", "name": RECORD_NAME, "namespace": NAMESPACE, "fields": fields}


def render_avro() -> str:
    return json.dumps(avro_schema(), indent=2) + "\n"


def render_proto() -> str:
    """The ``.proto`` text of the feature event (proto3; ``optional`` gives presence, so a
    missing feature stays distinguishable from 0.0). Pure."""
    lines = ['syntax = "proto3";', "", f"package {_PROTO_PACKAGE};", "", "message Features {"]
    lines += [f"  optional double {n} = {i};" for i, n in enumerate(FEATURE_NAMES, 1)]
    lines += ["}", "", f"message {RECORD_NAME} {{"]
    lines += [f"  {ptype} {name} = {i};" for i, (name, _, ptype) in enumerate(_SCALARS, 1)]
    lines += ["  optional Features features = 6;", "  repeated double activity = 7;"]
    lines += ["  optional double coverage = 8;", "}"]
    return "\n".join(lines) + "\n"


def _file_descriptor() -> descriptor_pb2.FileDescriptorProto:
    """The descriptor ``render_proto`` describes, built directly (no protoc needed)."""
    fdp = descriptor_pb2.FileDescriptorProto(
        name=PROTO_FILE, package=_PROTO_PACKAGE, syntax="proto3"
    )
    fd = descriptor_pb2.FieldDescriptorProto
    features = fdp.message_type.add(name="Features")
    for number, name in enumerate(FEATURE_NAMES, 1):
        _optional(features, name, number, fd.TYPE_DOUBLE)
    event = fdp.message_type.add(name=RECORD_NAME)
    kinds = {"int32": fd.TYPE_INT32, "string": fd.TYPE_STRING}
    for number, (name, _, ptype) in enumerate(_SCALARS, 1):
        event.field.add(name=name, number=number, type=kinds[ptype], label=fd.LABEL_OPTIONAL)
    _optional(event, "features", 6, fd.TYPE_MESSAGE, f".{_PROTO_PACKAGE}.Features")
    event.field.add(name="activity", number=7, type=fd.TYPE_DOUBLE, label=fd.LABEL_REPEATED)
    _optional(event, "coverage", 8, fd.TYPE_DOUBLE)
    return fdp


def _optional(
    message: descriptor_pb2.DescriptorProto, name: str, number: int, kind: int, type_name: str = ""
) -> None:
    """A proto3 ``optional`` field: a synthetic one-field oneof named ``_<name>``."""
    fd = descriptor_pb2.FieldDescriptorProto
    message.oneof_decl.add(name=f"_{name}")
    field = message.field.add(
        name=name,
        number=number,
        type=kind,
        label=fd.LABEL_OPTIONAL,
        oneof_index=len(message.oneof_decl) - 1,
        proto3_optional=True,
    )
    if type_name:
        field.type_name = type_name


@cache
def proto_message_class() -> type[Message]:
    """The generated ``FeatureEvent`` message class (built once per process from the
    descriptor, in its own pool). Thread-safe after the first call."""
    from google.protobuf import descriptor_pool

    pool = descriptor_pool.DescriptorPool()
    pool.Add(_file_descriptor())
    descriptor = pool.FindMessageTypeByName(f"{_PROTO_PACKAGE}.{RECORD_NAME}")
    message_class: type[Message] = message_factory.GetMessageClass(descriptor)
    return message_class


def proto_to_dict(message: Message) -> dict[str, Any]:
    """A decoded ``FeatureEvent`` message as the JSON contract's dict: unset features are
    None, an absent ``features``/``activity`` is left out. Pure; per record."""
    out: dict[str, Any] = {name: getattr(message, name) for name, _, _ in _SCALARS}
    if message.HasField("features"):
        features: dict[str, float | None] = dict.fromkeys(FEATURE_NAMES)
        features.update((field.name, value) for field, value in message.features.ListFields())
        out["features"] = features
    activity = message.activity
    if len(activity):
        out["activity"] = list(activity)
    if message.HasField("coverage"):
        out["coverage"] = message.coverage
    return out


def dict_to_proto(event: dict[str, Any]) -> Message:
    """The JSON contract's dict as a ``FeatureEvent`` message (for producers and tests)."""
    message = proto_message_class()()
    for name, _, _ in _SCALARS:
        setattr(message, name, event[name])
    features = event.get("features")
    if features is not None:
        target = message.features
        target.SetInParent()
        for name, value in features.items():
            if value is not None:
                setattr(target, name, value)
    if event.get("activity") is not None:
        message.activity.extend(event["activity"])
    if event.get("coverage") is not None:
        message.coverage = event["coverage"]
    return message


def write_files(directory: Path = SCHEMA_DIR) -> list[Path]:
    written = []
    for filename, text in ((AVRO_FILE, render_avro()), (PROTO_FILE, render_proto())):
        path = directory / filename
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written


if __name__ == "__main__":
    for written_path in write_files():
        print(written_path)
