"""Dead letters that always fit: a copy of an invalid message may be larger than what the
producer and a default Kafka topic accept (a near-1 MB value plus headers), and a record
that cannot be produced would stop the worker. Such a copy keeps the first bytes that fit
and says so in its headers; ``source.topic``/``source.partition``/``source.offset``
already point at the whole original.

Pure functions; thread-safe; never block.
"""

from __future__ import annotations

from typing import Final

#: Key + value + header bytes of a dead letter at most: Kafka's default limits are
#: 1,000,000 bytes per produced message and 1,048,588 per record batch; 1,000 bytes stay
#: for the record and batch framing.
DEAD_LETTER_MAX_BYTES: Final = 999_000
TRUNCATED: Final = "dead_letter.truncated"
ORIGINAL_VALUE_BYTES: Final = "dead_letter.original_value_bytes"
ORIGINAL_KEY_BYTES: Final = "dead_letter.original_key_bytes"

Headers = list[tuple[str, bytes]]


def fit_dead_letter(
    key: bytes | None,
    value: bytes | None,
    headers: Headers,
    max_bytes: int = DEAD_LETTER_MAX_BYTES,
) -> tuple[bytes | None, bytes | None, Headers]:
    """The key, value and headers to produce: unchanged (with ``dead_letter.truncated:
    false``) when they fit ``max_bytes``; else the value (then the key) cut to what fits,
    with ``dead_letter.truncated: true`` and the original sizes."""
    marks = [(ORIGINAL_VALUE_BYTES, b""), (ORIGINAL_KEY_BYTES, b""), (TRUNCATED, b"true")]
    fixed = _header_bytes(headers) + _header_bytes(marks) + 16  # digits of the sizes
    key_len, value_len = len(key or b""), len(value or b"")
    if fixed + key_len + value_len <= max_bytes:
        return key, value, [*headers, (TRUNCATED, b"false")]
    room = max(0, max_bytes - fixed)
    kept_key = key[: min(key_len, room // 2 if value_len else room)] if key is not None else None
    kept_value = value[: room - len(kept_key or b"")] if value is not None else None
    added: Headers = [(TRUNCATED, b"true"), (ORIGINAL_VALUE_BYTES, str(value_len).encode())]
    if kept_key is not None and len(kept_key) < key_len:
        added.append((ORIGINAL_KEY_BYTES, str(key_len).encode()))
    return kept_key, kept_value, [*headers, *added]


def _header_bytes(headers: Headers) -> int:
    return sum(len(name.encode()) + len(value) for name, value in headers)
