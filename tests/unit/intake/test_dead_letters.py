"""Dead letters that cannot fit are cut to what fits and say so (pure logic)."""

from __future__ import annotations

import pytest

from consumer.intake.dead_letters import DEAD_LETTER_MAX_BYTES, fit_dead_letter

HEADERS = [("error.class", b"InvalidEvent.too_large"), ("source.offset", b"17")]


def size(key: bytes | None, value: bytes | None, headers: list[tuple[str, bytes]]) -> int:
    return len(key or b"") + len(value or b"") + sum(len(n) + len(v) for n, v in headers)


def test_a_dead_letter_that_fits_is_unchanged_and_says_so() -> None:
    key, value, headers = fit_dead_letter(b"k", b"v" * 1000, HEADERS)
    assert (key, value) == (b"k", b"v" * 1000)
    assert headers == [*HEADERS, ("dead_letter.truncated", b"false")]


@pytest.mark.parametrize("value_bytes", [999_950, 1_048_516, 5_000_000])
def test_a_near_limit_value_is_cut_to_fit_with_its_original_size(value_bytes: int) -> None:
    original = bytes(range(256)) * (value_bytes // 256) + b"x" * (value_bytes % 256)
    key, value, headers = fit_dead_letter(b"user-1", original, HEADERS)
    assert size(key, value, headers) <= DEAD_LETTER_MAX_BYTES
    assert key == b"user-1" and value is not None and original.startswith(value)
    assert len(value) > DEAD_LETTER_MAX_BYTES - 1_000  # keeps nearly all that fits
    found = dict(headers)
    assert found["dead_letter.truncated"] == b"true"
    assert found["dead_letter.original_value_bytes"] == str(value_bytes).encode()
    assert "dead_letter.original_key_bytes" not in found


@pytest.mark.parametrize(("key_bytes", "value"), [(2_000_000, b"v" * 2_000_000), (2_000_000, None)])
def test_a_huge_key_is_cut_too(key_bytes: int, value: bytes | None) -> None:
    key, kept, headers = fit_dead_letter(b"k" * key_bytes, value, HEADERS, max_bytes=10_000)
    assert size(key, kept, headers) <= 10_000
    assert key is not None and 0 < len(key) < key_bytes
    assert (kept is None) == (value is None)
    assert dict(headers)["dead_letter.original_key_bytes"] == str(key_bytes).encode()
