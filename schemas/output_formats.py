"""The service's outputs (``Prediction``, ``Alert``) in the Schema Registry formats: Avro
and Protobuf generated from the pydantic contract (``schemas/events.py``), as
``registry_formats`` does for the feature event. The JSON Schemas are the exported
``prediction.v1.schema.json`` and ``alert.v1.schema.json`` (``schemas/export.py``).

The generator reads the model's own JSON Schema (``model_json_schema``), so a field added
to the contract appears in every format: a string (dates, times, UUIDs and enums keep the
JSON contract's text) is an Avro ``string`` / proto ``string``, a number a ``double``, an
integer a ``long`` / ``int64``, a nested model a record / message, ``dict[str, Model]`` a
map, a nullable field a union with ``null`` / a proto3 ``optional``. Proto field numbers
follow the model's field order: add new fields at the end of a model (the drift test then
shows the new file). A decoded record is the JSON contract's dict, value for value.

``python -m schemas.output_formats`` rewrites ``prediction.v1.avsc/.proto`` and
``alert.v1.avsc/.proto``; a test fails when the files drift. Pure; no I/O at import.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, Final

from google.protobuf import descriptor_pb2, message_factory
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message
from pydantic import BaseModel

from schemas.events import Alert, Prediction

SCHEMA_DIR: Final = Path(__file__).resolve().parent
NAMESPACE: Final = "moodstream.v1"
#: Output kind → its contract model.
MODELS: Final[dict[str, type[BaseModel]]] = {"prediction": Prediction, "alert": Alert}
_AVRO: Final = {"string": "string", "number": "double", "integer": "long", "boolean": "boolean"}
_FD = descriptor_pb2.FieldDescriptorProto
_PROTO: Final = {
    "string": (_FD.TYPE_STRING, "string"),
    "number": (_FD.TYPE_DOUBLE, "double"),
    "integer": (_FD.TYPE_INT64, "int64"),
    "boolean": (_FD.TYPE_BOOL, "bool"),
}


@dataclass(frozen=True)
class Field:
    """One field of a record: ``kind`` is a JSON type name, ``record:<Name>`` or
    ``map:<Name>`` (string keys, record values)."""

    name: str
    kind: str
    nullable: bool
    has_default: bool
    default: Any = None


@dataclass(frozen=True)
class Record:
    name: str
    fields: tuple[Field, ...]


def records(model: type[BaseModel]) -> list[Record]:
    """The model's record and every nested one, nested first (Avro and .proto order). Pure."""
    schema = model.model_json_schema(mode="validation")
    defs: dict[str, Any] = schema.get("$defs", {})
    found: dict[str, Record] = {}
    _record(model.__name__, schema, defs, found)
    return list(found.values())


def _record(
    name: str, schema: dict[str, Any], defs: dict[str, Any], found: dict[str, Record]
) -> None:
    required = set(schema.get("required", ()))
    fields = []
    for field_name, prop in schema["properties"].items():
        options = [o for o in prop.get("anyOf", [prop]) if o.get("type") != "null"]
        if len(options) != 1:
            raise ValueError(f"{name}.{field_name}: only one type or one type and null")
        kind = _kind(options[0], defs, found)
        nullable = "anyOf" in prop
        has_default = field_name not in required and "default" in prop
        fields.append(Field(field_name, kind, nullable, has_default, prop.get("default")))
    found[name] = Record(name, tuple(fields))


def _kind(option: dict[str, Any], defs: dict[str, Any], found: dict[str, Record]) -> str:
    if "$ref" in option:
        ref = option["$ref"].rsplit("/", 1)[-1]
        target = defs[ref]
        if "properties" not in target:  # an enum: its JSON text
            return _kind(target, defs, found)
        if ref not in found:
            _record(ref, target, defs, found)
        return f"record:{ref}"
    if option.get("type") == "object":
        value = option["additionalProperties"]
        inner = _kind(value, defs, found)
        if not inner.startswith("record:"):
            raise ValueError("maps hold records only")
        return "map:" + inner.removeprefix("record:")
    kind = option.get("type") or type(option["const"]).__name__.replace("int", "integer")
    if kind not in _AVRO:
        raise ValueError(f"no registry type for {option}")
    return str(kind)


def avro_schema(kind: str) -> dict[str, Any]:
    """The Avro record of an output kind (``prediction``/``alert``), v1. Pure."""
    by_name = {record.name: record for record in records(MODELS[kind])}
    top = _avro_record(by_name[MODELS[kind].__name__], by_name, set())
    return {"type": "record", "name": top["name"], "namespace": NAMESPACE, "fields": top["fields"]}


def _avro_record(record: Record, by_name: dict[str, Record], seen: set[str]) -> dict[str, Any]:
    """A named record is defined at its first use and named at every later one."""
    seen.add(record.name)
    fields = []
    for field in record.fields:
        base, _, name = field.kind.partition(":")
        avro: Any = _AVRO.get(base)
        if base in ("record", "map"):
            avro = name if name in seen else _avro_record(by_name[name], by_name, seen)
            avro = {"type": "map", "values": avro} if base == "map" else avro
        entry = {"name": field.name, "type": ["null", avro] if field.nullable else avro}
        if field.has_default:
            entry["default"] = field.default
        fields.append(entry)
    return {"type": "record", "name": record.name, "fields": fields}


def render_avro(kind: str) -> str:
    return json.dumps(avro_schema(kind), indent=2) + "\n"


def proto_file(kind: str) -> str:
    return f"{kind}.v1.proto"


def render_proto(kind: str) -> str:
    """The ``.proto`` text of an output kind (proto3; ``optional`` gives presence, so a
    null stays distinguishable from 0). Pure."""
    lines = ['syntax = "proto3";', "", f"package {NAMESPACE};"]
    for record in records(MODELS[kind]):
        lines += ["", f"message {record.name} {{"]
        for number, field in enumerate(record.fields, 1):
            base, _, name = field.kind.partition(":")
            if base == "map":
                lines.append(f"  map<string, {name}> {field.name} = {number};")
                continue
            ptype = name if base == "record" else _PROTO[base][1]
            optional = "optional " if field.nullable else ""
            lines.append(f"  {optional}{ptype} {field.name} = {number};")
        lines.append("}")
    return "\n".join(lines) + "\n"


def file_descriptor(kind: str) -> descriptor_pb2.FileDescriptorProto:
    """The descriptor ``render_proto`` describes, built directly (no protoc needed)."""
    fdp = descriptor_pb2.FileDescriptorProto(
        name=proto_file(kind), package=NAMESPACE, syntax="proto3"
    )
    for record in records(MODELS[kind]):
        message = fdp.message_type.add(name=record.name)
        for number, field in enumerate(record.fields, 1):
            _add_field(message, field, number)
    return fdp


def _add_field(message: descriptor_pb2.DescriptorProto, field: Field, number: int) -> None:
    base, _, name = field.kind.partition(":")
    added = message.field.add(name=field.name, number=number, label=_FD.LABEL_OPTIONAL)
    if base == "map":
        entry = message.nested_type.add(name=_map_entry_name(field.name))
        entry.options.map_entry = True
        entry.field.add(name="key", number=1, type=_FD.TYPE_STRING, label=_FD.LABEL_OPTIONAL)
        value = entry.field.add(name="value", number=2, label=_FD.LABEL_OPTIONAL)
        value.type, value.type_name = _FD.TYPE_MESSAGE, f".{NAMESPACE}.{name}"
        added.label, added.type = _FD.LABEL_REPEATED, _FD.TYPE_MESSAGE
        added.type_name = f".{NAMESPACE}.{message.name}.{entry.name}"
        return
    if base == "record":
        added.type, added.type_name = _FD.TYPE_MESSAGE, f".{NAMESPACE}.{name}"
    else:
        added.type = _PROTO[base][0]
    if field.nullable:  # proto3 ``optional``: a synthetic one-field oneof named ``_<name>``
        message.oneof_decl.add(name=f"_{field.name}")
        added.oneof_index = len(message.oneof_decl) - 1
        added.proto3_optional = True


def _map_entry_name(field_name: str) -> str:
    """protoc's name of a map field's entry type (``models`` → ``ModelsEntry``)."""
    return "".join(part.capitalize() for part in field_name.split("_")) + "Entry"


@cache
def proto_message_class(kind: str) -> type[Message]:
    """The generated message class of an output kind (built once per process from the
    descriptor, in its own pool). Thread-safe after the first call."""
    from google.protobuf import descriptor_pool

    pool = descriptor_pool.DescriptorPool()
    pool.Add(file_descriptor(kind))
    descriptor = pool.FindMessageTypeByName(f"{NAMESPACE}.{MODELS[kind].__name__}")
    message_class: type[Message] = message_factory.GetMessageClass(descriptor)
    return message_class


def proto_to_dict(message: Message) -> dict[str, Any]:
    """A decoded message as the JSON contract's dict (an unset ``optional`` is None). Pure."""
    out: dict[str, Any] = {}
    descriptor: Descriptor = message.DESCRIPTOR
    for field in descriptor.fields:
        value = getattr(message, field.name)
        if _is_map(field):
            out[field.name] = {key: proto_to_dict(item) for key, item in value.items()}
        elif field.has_presence and not message.HasField(field.name):
            out[field.name] = None
        elif field.type == FieldDescriptor.TYPE_MESSAGE:
            out[field.name] = proto_to_dict(value)
        else:
            out[field.name] = value
    return out


def dict_to_proto(record: dict[str, Any], kind: str) -> Message:
    """The JSON contract's dict of an output kind as its message. Pure; raises
    KeyError/TypeError/ValueError on a dict that is not the contract's."""
    message = proto_message_class(kind)()
    _fill(message, record)
    return message


def _fill(message: Message, record: dict[str, Any]) -> None:
    fields = message.DESCRIPTOR.fields_by_name
    for name, value in record.items():
        if value is None:
            continue
        field = fields[name]
        if _is_map(field):
            target = getattr(message, name)
            for key, item in value.items():
                _fill(target[key], item)
        elif field.type == FieldDescriptor.TYPE_MESSAGE:
            nested = getattr(message, name)
            nested.SetInParent()
            _fill(nested, value)
        else:
            setattr(message, name, value)


def _is_map(field: FieldDescriptor) -> bool:
    entry = field.message_type
    return entry is not None and entry.GetOptions().map_entry


def write_files(directory: Path = SCHEMA_DIR) -> list[Path]:
    written = []
    for kind in MODELS:
        for filename, text in (
            (f"{kind}.v1.avsc", render_avro(kind)),
            (proto_file(kind), render_proto(kind)),
        ):
            path = directory / filename
            path.write_text(text, encoding="utf-8")
            written.append(path)
    return written


if __name__ == "__main__":
    for written_path in write_files():
        print(written_path)
