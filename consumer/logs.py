"""Structured logs: one JSON line on stderr per event of interest, never per message.

    configure_logging("INFO")
    log_event(log, "worker_started", worker=2, partitions=[0, 3])
    log_event(log, "model_timeout", level=logging.WARNING, user=user_ref(uid, key))

Privacy rules, enforced by :class:`RedactingJsonFormatter` whatever the caller passes:
values of fields named like a password, secret, token, credential or key are
printed as ``**********``; so is any ``pydantic.SecretStr``; fields named ``user_id``
are replaced (log ``user=user_ref(user_id, key)``, a keyed hash, instead); feature
and activity values are never printed.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import SecretStr

MASK = "**********"
_SENSITIVE_NAME = re.compile(
    r"pass(word|wd)?|secret|token|credential|api[_-]?key|private[_-]?key|hash[_-]?key|sasl",
    re.IGNORECASE,
)
_RAW_USER_NAME = re.compile(r"^(user_?id|userid)$", re.IGNORECASE)
_PAYLOAD_NAME = re.compile(r"^(features?|activity|payload|value|values)$", re.IGNORECASE)
_FIELDS_ATTR = "moodstream_fields"
_HANDLER_MARK = "moodstream_json"
USER_REF_CHARS = 16


def user_ref(user_id: str, key: SecretStr) -> str:
    """A stable pseudonym for ``user_id``: HMAC-SHA256 under ``key``, 16 hex chars.

    Safe for logs and correlation; without the key it cannot be reversed or
    recomputed from a guessed id. Never use it as a metric label (unbounded
    cardinality). Pure, thread-safe, does not block.
    """
    digest = hmac.new(
        key.get_secret_value().encode("utf-8"), user_id.encode("utf-8"), hashlib.sha256
    )
    return digest.hexdigest()[:USER_REF_CHARS]


@dataclass(frozen=True)
class UserRef:
    """:func:`user_ref` with the key bound.

    ``ref = UserRef(settings.observability.user_hash_key); ref(user_id)``.
    """

    key: SecretStr = field(repr=False)

    def __call__(self, user_id: str) -> str:
        return user_ref(user_id, self.key)


def redact(name: str, value: Any) -> Any:
    """The value to print for field ``name`` (masked, replaced or as given). Pure."""
    if isinstance(value, SecretStr) or _SENSITIVE_NAME.search(name):
        return MASK
    if _RAW_USER_NAME.match(name):
        return "[raw user_id withheld: log user_ref()]"
    if _PAYLOAD_NAME.match(name):
        return "[withheld]"
    if isinstance(value, Mapping):
        return {str(k): redact(str(k), v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [redact(name, v) for v in value]
    if isinstance(value, bytes):
        return f"<{len(value)} bytes>"
    return value


class RedactingJsonFormatter(logging.Formatter):
    """Formats a record as one JSON object, applying :func:`redact` to every field.

    Thread-safe (stateless); does not block.
    """

    def format(self, record: logging.LogRecord) -> str:
        fields: Mapping[str, Any] = getattr(record, _FIELDS_ATTR, None) or {}
        line: dict[str, Any] = {
            "ts": _iso_utc(record.created),
            "level": record.levelname,
            "logger": record.name,
            "event": record.getMessage(),
            "pid": record.process,
        }
        for name, value in fields.items():
            if name not in line:
                line[name] = redact(name, value)
        if record.exc_info and record.exc_info[0] is not None:
            line["error_class"] = record.exc_info[0].__name__
            line["traceback"] = self.formatException(record.exc_info)
        return json.dumps(line, default=_fallback, ensure_ascii=False)


def _fallback(value: object) -> str:
    return MASK if isinstance(value, SecretStr) else str(value)


def _iso_utc(created: float) -> str:
    millis = int((created % 1) * 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(created)) + f".{millis:03d}Z"


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg,unused-ignore]
    """Writes to whatever ``sys.stderr`` is at emit time (survives redirection)."""

    @property
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, value: Any) -> None:
        pass


def configure_logging(level: str | int = "INFO") -> None:
    """Send every log record to stderr as a JSON line, at ``level`` and above.

    Idempotent: replaces the handler it installed earlier and leaves others alone.
    Call once per process (the supervisor; forked workers inherit it). Raises
    ``ValueError`` for an unknown level name. Not thread-safe (configures the root
    logger).
    """
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, _HANDLER_MARK, False):
            root.removeHandler(handler)
    handler = _StderrHandler()
    handler.setFormatter(RedactingJsonFormatter())
    setattr(handler, _HANDLER_MARK, True)
    root.addHandler(handler)
    root.setLevel(level.upper() if isinstance(level, str) else level)


def log_event(
    logger: logging.Logger,
    event: str,
    *,
    level: int = logging.INFO,
    exc_info: bool = False,
    **fields: Any,
) -> None:
    """Log ``event`` (a short snake_case name) with structured ``fields``.

    ``level`` and ``exc_info`` are reserved names. Field values must be JSON-able or
    have a useful ``str``. Never pass raw user ids, feature values or credentials
    (they are masked anyway). Does not block beyond the handler's write; thread-safe.
    """
    logger.log(level, event, exc_info=exc_info, extra={_FIELDS_ATTR: fields})
