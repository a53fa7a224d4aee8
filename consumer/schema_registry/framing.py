"""The Schema Registry wire format's header, read by confluent-kafka's own ``SchemaId``:
the magic byte 0, the 4-byte schema id and, for Protobuf, the message indexes.

``HeaderReader`` remembers each header it read by the bytes that parse consumed (a pure
function of them): records of one schema share their first bytes, so the header of most
records costs one dict lookup instead of a parse. Bounded; not thread-safe (one per
decoder).
"""

from __future__ import annotations

import io
from typing import Final

from consumer.errors import InvalidEvent

#: Magic byte + 4-byte id + at least one payload byte.
MIN_FRAME_BYTES: Final = 6
#: How many leading bytes key the memo (a header longer than this is parsed every time).
_PREFIX_BYTES: Final = 8
_MAX_MEMO: Final = 4_096


def frame_of(value: bytes, schema_type: str = "AVRO") -> tuple[int, io.BytesIO]:
    """The schema id and the stream at the payload, read past the header by confluent-
    kafka's ``SchemaId`` (a ``PROTOBUF`` header goes on with the message indexes). Raises
    InvalidEvent ``truncated_frame`` when the header is incomplete."""
    schema_id, offset, _ = _parse(value, schema_type)
    stream = io.BytesIO(value)
    stream.seek(offset)
    return schema_id, stream


def _parse(value: bytes, schema_type: str) -> tuple[int, int, list[int] | None]:
    """(schema id, payload offset, message indexes) by ``SchemaId``. Raises InvalidEvent."""
    from confluent_kafka.schema_registry.common.serde import SchemaId

    if len(value) < MIN_FRAME_BYTES:
        raise InvalidEvent("truncated_frame", f"registry frame of {len(value)} bytes is truncated")
    header = SchemaId(schema_type)
    try:
        stream = header.from_bytes(io.BytesIO(value))
    except Exception:  # EOFError, struct.error: the header ends early
        raise InvalidEvent("truncated_frame", "the registry frame's header is truncated") from None
    return int(header.id or 0), stream.tell(), header.message_indexes


class HeaderReader:
    """``frame_of`` with a memo of the headers already read."""

    def __init__(self) -> None:
        self._memo: dict[tuple[str, bytes], tuple[int, int]] = {}

    def frame(self, value: bytes, schema_type: str = "AVRO") -> tuple[int, io.BytesIO]:
        """The schema id and the stream at the payload. Raises InvalidEvent
        ``truncated_frame`` when the header is incomplete; never blocks."""
        key = (schema_type, value[:_PREFIX_BYTES])
        known = self._memo.get(key)
        if known is None:
            schema_id, offset, _ = _parse(value, schema_type)
            known = (schema_id, offset)
            if offset <= len(key[1]):  # the parse read only these bytes: same bytes, same header
                if len(self._memo) >= _MAX_MEMO:
                    self._memo.clear()
                self._memo[key] = known
        stream = io.BytesIO(value)
        stream.seek(known[1])
        return known[0], stream
