"""Activity samples in the Schema Registry formats: Avro and Protobuf, generated from the
pydantic contract (``schemas/samples.py``) as ``registry_formats`` does for the feature
event. The JSON Schema is the exported ``activity_samples.v1.schema.json``.

Every field keeps the JSON contract's representation (``start`` is the same RFC 3339
string), so a decoded record validates through the same pydantic model as a JSON one.

``python -m schemas.samples_formats`` rewrites ``activity_samples.v1.avsc`` and
``activity_samples.v1.proto``; a test fails when the files drift. Pure; no I/O at import.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any, Final

from google.protobuf import descriptor_pb2, message_factory
from google.protobuf.message import Message

SCHEMA_DIR: Final = Path(__file__).resolve().parent
AVRO_FILE: Final = "activity_samples.v1.avsc"
PROTO_FILE: Final = "activity_samples.v1.proto"
NAMESPACE: Final = "moodstream.v1"
RECORD_NAME: Final = "ActivitySamples"
#: The required scalar fields in order: (name, Avro type, proto3 type).
_SCALARS: Final = (
    ("schema_version", "int", "int32"),
    ("user_id", "string", "string"),
    ("start", "string", "string"),
    ("interval_s", "int", "int32"),
)
_VALUES_NUMBER: Final = 5
_TZ_NUMBER: Final = 6


def avro_schema() -> dict[str, Any]:
    """The Avro record of activity samples (v1). Pure."""
    fields: list[dict[str, Any]] = [{"name": n, "type": t} for n, t, _ in _SCALARS]
    fields.append({"name": "values", "type": {"type": "array", "items": "double"}})
    fields.append({"name": "tz", "type": ["null", "string"], "default": None})
    return {"type": "record", "name": RECORD_NAME, "namespace": NAMESPACE, "fields": fields}


def render_avro() -> str:
    return json.dumps(avro_schema(), indent=2) + "\n"


def render_proto() -> str:
    """The ``.proto`` text (proto3; ``optional`` keeps an absent ``tz`` apart from ""). Pure."""
    lines = ['syntax = "proto3";', "", f"package {NAMESPACE};", "", f"message {RECORD_NAME} {{"]
    lines += [f"  {ptype} {name} = {i};" for i, (name, _, ptype) in enumerate(_SCALARS, 1)]
    lines += [f"  repeated double values = {_VALUES_NUMBER};"]
    lines += [f"  optional string tz = {_TZ_NUMBER};", "}"]
    return "\n".join(lines) + "\n"


def _file_descriptor() -> descriptor_pb2.FileDescriptorProto:
    """The descriptor ``render_proto`` describes, built directly (no protoc needed)."""
    fdp = descriptor_pb2.FileDescriptorProto(name=PROTO_FILE, package=NAMESPACE, syntax="proto3")
    fd = descriptor_pb2.FieldDescriptorProto
    record = fdp.message_type.add(name=RECORD_NAME)
    kinds = {"int32": fd.TYPE_INT32, "string": fd.TYPE_STRING}
    for number, (name, _, ptype) in enumerate(_SCALARS, 1):
        record.field.add(name=name, number=number, type=kinds[ptype], label=fd.LABEL_OPTIONAL)
    record.field.add(
        name="values", number=_VALUES_NUMBER, type=fd.TYPE_DOUBLE, label=fd.LABEL_REPEATED
    )
    record.oneof_decl.add(name="_tz")
    record.field.add(
        name="tz",
        number=_TZ_NUMBER,
        type=fd.TYPE_STRING,
        label=fd.LABEL_OPTIONAL,
        oneof_index=0,
        proto3_optional=True,
    )
    return fdp


@cache
def proto_message_class() -> type[Message]:
    """The generated ``ActivitySamples`` message class (built once per process, in its own
    descriptor pool). Thread-safe after the first call."""
    from google.protobuf import descriptor_pool

    pool = descriptor_pool.DescriptorPool()
    pool.Add(_file_descriptor())
    descriptor = pool.FindMessageTypeByName(f"{NAMESPACE}.{RECORD_NAME}")
    message_class: type[Message] = message_factory.GetMessageClass(descriptor)
    return message_class


def proto_to_dict(message: Message) -> dict[str, Any]:
    """A decoded message as the JSON contract's dict (an unset ``tz`` left out). Pure."""
    out: dict[str, Any] = {name: getattr(message, name) for name, _, _ in _SCALARS}
    out["values"] = list(message.values)
    if message.HasField("tz"):
        out["tz"] = message.tz
    return out


def dict_to_proto(record: dict[str, Any]) -> Message:
    """The JSON contract's dict as a message (for producers and tests). Pure."""
    message = proto_message_class()()
    for name, _, _ in _SCALARS:
        setattr(message, name, record[name])
    message.values.extend(record["values"])
    if record.get("tz") is not None:
        message.tz = record["tz"]
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
