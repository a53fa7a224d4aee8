"""JSON logs: one line per event, keyed user pseudonyms, nothing secret or personal printed."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
from pydantic import SecretStr

from consumer.logs import MASK, UserRef, configure_logging, log_event, redact, user_ref

KEY = SecretStr("k1")


@pytest.fixture
def lines(capsys: pytest.CaptureFixture[str]) -> Iterator[Any]:
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    configure_logging("INFO")

    def read() -> list[dict[str, Any]]:
        return [json.loads(line) for line in capsys.readouterr().err.splitlines()]

    yield read
    root.handlers[:] = saved[0]
    root.setLevel(saved[1])


def test_user_ref_is_stable_short_hex_and_keyed() -> None:
    ref = user_ref("user-42", KEY)
    assert ref == user_ref("user-42", SecretStr("k1"))
    assert len(ref) == 16 and int(ref, 16) >= 0
    assert ref != user_ref("user-43", KEY)
    assert ref != user_ref("user-42", SecretStr("k2"))
    assert UserRef(KEY)("user-42") == ref
    assert "k1" not in repr(UserRef(KEY))


def test_user_ref_is_the_hmac_sha256_prefix() -> None:
    import hashlib
    import hmac

    expected = hmac.new(b"k1", b"user-42", hashlib.sha256).hexdigest()[:16]
    assert user_ref("user-42", KEY) == expected


def test_event_is_one_json_line_with_fields(lines: Any) -> None:
    log = logging.getLogger("moodstream.test")
    log_event(log, "worker_started", worker=2, partitions=[0, 3])
    log_event(log, "below_level", level=logging.DEBUG)
    [line] = lines()
    assert line["event"] == "worker_started"
    assert line["level"] == "INFO" and line["logger"] == "moodstream.test"
    assert line["worker"] == 2 and line["partitions"] == [0, 3]
    assert line["ts"].endswith("Z") and isinstance(line["pid"], int)


def test_no_raw_user_id_secret_or_feature_value_is_printed(lines: Any) -> None:
    log = logging.getLogger("moodstream.test")
    log_event(
        log,
        "model_timeout",
        level=logging.WARNING,
        user=user_ref("alice-123", KEY),
        user_id="alice-123",
        sasl_password="hunter2",
        api_token="tok-xyz",
        client_secret="s3cr3t",
        key=SecretStr("also-hidden"),
        config={"sasl.username": "svc", "ssl.key.password": "pw-in-dict"},
        features={"ST_long_MN": 7.2519},
        activity=[1.5373] * 3,
    )
    [line] = lines()
    # The timestamp is left out of the search: its digits can hold any short number.
    raw = json.dumps({name: value for name, value in line.items() if name != "ts"})
    for secret in (
        "alice-123",
        "hunter2",
        "tok-xyz",
        "s3cr3t",
        "also-hidden",
        "pw-in-dict",
        "7.2519",
        "1.5373",
    ):
        assert secret not in raw, secret
    assert line["user"] == user_ref("alice-123", KEY)
    assert line["sasl_password"] == line["api_token"] == line["client_secret"] == MASK
    assert line["key"] == MASK
    assert line["config"]["ssl.key.password"] == MASK


def test_exceptions_carry_their_class(lines: Any) -> None:
    log = logging.getLogger("moodstream.test")
    try:
        raise ValueError("bad")
    except ValueError:
        log_event(log, "worker_crashed", level=logging.ERROR, exc_info=True)
    [line] = lines()
    assert line["error_class"] == "ValueError" and "Traceback" in line["traceback"]


def test_plain_library_records_are_json_too(lines: Any) -> None:
    logging.getLogger("somelib").warning("disk %s", "full")
    [line] = lines()
    assert line["event"] == "disk full" and line["level"] == "WARNING"


def test_configure_logging_is_idempotent() -> None:
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    try:
        configure_logging("WARNING")
        configure_logging("DEBUG")
        ours = [h for h in root.handlers if getattr(h, "moodstream_json", False)]
        assert len(ours) == 1 and root.level == logging.DEBUG
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])


def test_redact_is_pure_and_recursive() -> None:
    assert redact("count", 3) == 3
    assert redact("password", "x") == MASK
    assert redact("nested", {"token": "t", "ok": [SecretStr("s")]}) == {"token": MASK, "ok": [MASK]}
    assert redact("payload_bytes", b"abc") == "<3 bytes>"
