"""Cluster administration through the confluent-kafka AdminClient: reachability, topics, SCRAM.

Every call here blocks for at most the bound it is given and raises KafkaSetupError with
a one-line cause. librdkafka's own log lines are captured instead of printed, so an
unreachable cluster gives one message, not a screenful of connection errors.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Mapping
from typing import Any

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import (  # type: ignore[attr-defined]
    AdminClient,
    ClusterMetadata,
    NewTopic,
    ScramCredentialInfo,
    ScramMechanism,
    UserScramCredentialUpsertion,
)

from consumer.errors import ClusterUnreachableError, KafkaSetupError

CREATED = "created"
EXISTS = "exists"

_AUTH_CODES = frozenset({KafkaError._AUTHENTICATION, KafkaError.SASL_AUTHENTICATION_FAILED})
_TLS_CODES = frozenset({KafkaError._SSL})
_RESOLVE_CODES = frozenset({KafkaError._RESOLVE})


class _Capture(logging.Handler):
    """Keeps the last few librdkafka log lines for error messages instead of printing them."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines = [*self.lines[-4:], record.getMessage()]


class _Quiet:
    """An AdminClient whose logs and errors are collected, for the calls below."""

    def __init__(self, config: Mapping[str, Any]) -> None:
        from consumer.kafka.config import new_client  # config imports the broker, which needs us

        self.errors: list[KafkaError] = []
        self.capture = _Capture()
        logger = logging.Logger("moodstream.librdkafka")  # private, never registered globally
        logger.addHandler(self.capture)
        logger.propagate = False
        self.client = new_client(
            lambda conf: AdminClient(conf, logger=logger, error_cb=self.errors.append), config
        )

    def cause(self, bootstrap: str, timeout_s: float, exc: BaseException | None = None) -> str:
        """The one-line reason the cluster could not be used."""
        self.client.poll(0)
        codes = {err.code() for err in self.errors}
        detail = self.errors[-1].str() if self.errors else (str(exc) if exc else "")
        if not detail and self.capture.lines:
            detail = self.capture.lines[-1]
        if codes & _AUTH_CODES:
            return f"authentication to Kafka at {bootstrap} failed: {detail}"
        if codes & _TLS_CODES:
            return f"TLS handshake with Kafka at {bootstrap} failed: {detail}"
        if codes & _RESOLVE_CODES:
            return f"cannot resolve the Kafka bootstrap address {bootstrap}: {detail}"
        return f"Kafka at {bootstrap} is unreachable after {timeout_s:g} s: {detail or 'timed out'}"

    def auth_failed(self) -> bool:
        self.client.poll(0)
        return any(err.code() in _AUTH_CODES for err in self.errors)

    def cannot_succeed(self) -> bool:
        """An authentication failure, or a bootstrap name that does not resolve (not a
        temporary DNS failure): waiting longer would not help."""
        if self.auth_failed():
            return True
        return any(
            err.code() in _RESOLVE_CODES and "temporary" not in err.str().lower()
            for err in self.errors
        )


def wait_for_cluster(config: Mapping[str, Any], timeout_s: float) -> ClusterMetadata:
    """Block until the cluster answers a metadata request; return that metadata.

    Gives up early on what cannot succeed: an authentication failure or a bootstrap
    name that does not resolve. Raises KafkaSetupError with a one-line
    cause (unreachable, auth failure, TLS, DNS) within about ``timeout_s``; the
    ClusterUnreachableError subclass when no answer came in time for no other cause.
    """
    quiet = _Quiet(config)
    return _metadata(quiet, str(config.get("bootstrap.servers", "?")), timeout_s)


def _metadata(quiet: _Quiet, bootstrap: str, timeout_s: float) -> ClusterMetadata:
    deadline = time.monotonic() + timeout_s
    last: BaseException | None = None
    while True:
        step_s = min(1.0, max(0.05, deadline - time.monotonic()))
        try:
            return quiet.client.list_topics(timeout=step_s)
        except KafkaException as exc:
            last = exc
        if quiet.cannot_succeed() or time.monotonic() >= deadline:
            cause = quiet.cause(bootstrap, timeout_s, last)
            unreachable = cause.startswith(f"Kafka at {bootstrap} is unreachable")
            raise (ClusterUnreachableError if unreachable else KafkaSetupError)(cause)


def wait_for_topics(config: Mapping[str, Any], topics: Iterable[str], timeout_s: float) -> None:
    """Block until every topic in ``topics`` is in the metadata with a leader per partition.

    Use after ``create_topics`` before producing. Raises KafkaSetupError (unreachable
    cluster, or the topics still missing) after about ``timeout_s``.
    """
    quiet = _Quiet(config)
    bootstrap = str(config.get("bootstrap.servers", "?"))
    wanted = set(topics)
    deadline = time.monotonic() + timeout_s
    while True:
        metadata = _metadata(quiet, bootstrap, max(0.1, deadline - time.monotonic()))
        missing = {
            name
            for name in wanted
            if name not in metadata.topics
            or metadata.topics[name].error is not None
            or any(p.leader < 0 for p in metadata.topics[name].partitions.values())
        }
        if not missing:
            return
        if time.monotonic() >= deadline:
            names = ", ".join(sorted(missing))
            raise KafkaSetupError(f"topics not ready after {timeout_s:g} s: {names}")
        time.sleep(0.1)


_ROLE_WORDS = {
    "features": "input",
    "predictions": "predictions",
    "alerts": "alerts",
    "dlq": "dead-letter",
    "overflow": "overflow",
}


def require_topics(
    config: Mapping[str, Any],
    topics: Mapping[str, str],
    metadata: ClusterMetadata,
    timeout_s: float,
) -> None:
    """Check that every topic of ``topics`` (role such as ``features`` -> name) exists and
    may be used, the input and every topic the service writes. Topics present in
    ``metadata`` cost nothing; each other one blocks up to ``timeout_s`` (one metadata
    request). Raises KafkaSetupError naming the first missing topic and its setting."""
    for role, name in topics.items():
        found = metadata.topics.get(name)
        if found is None or found.error is not None:
            require_topic(config, name, timeout_s, role=role)


def require_topic(
    config: Mapping[str, Any], topic: str, timeout_s: float, *, role: str = "features"
) -> None:
    """Check that ``topic`` exists and this principal may describe it. Blocks up to
    ``timeout_s`` (one metadata request for that topic). Raises KafkaSetupError saying
    which: missing (create it, or fix the ``TOPICS__<ROLE>`` setting) or not authorized
    (grant the ACL)."""
    quiet = _Quiet(config)
    try:
        metadata = quiet.client.list_topics(topic=topic, timeout=timeout_s)
    except KafkaException as exc:
        raise KafkaSetupError(f"cannot read the metadata of topic {topic!r}: {exc}") from None
    found = metadata.topics.get(topic)
    error = None if found is None else found.error
    if found is None or (error is not None and error.code() == KafkaError.UNKNOWN_TOPIC_OR_PART):
        if role not in _ROLE_WORDS:
            raise KafkaSetupError(f"topic {topic!r} does not exist")
        raise KafkaSetupError(
            f"{_ROLE_WORDS.get(role, role)} topic {topic!r} does not exist: run `moodstream "
            f"topics create` or set MOODSTREAM_TOPICS__{role.upper()}"
        )
    if error is not None and error.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED:
        access = "READ" if role == "features" else "WRITE"
        raise KafkaSetupError(
            f"not authorized to use topic {topic!r} ({error.str()}): grant the service's "
            f"principal DESCRIBE and {access} on it"
        )
    if error is not None:
        raise KafkaSetupError(f"cannot use topic {topic!r}: {error.str()}")


def create_topics(
    admin_config: Mapping[str, Any],
    topics: Iterable[str],
    partitions: int,
    replication: int,
    timeout_s: float = 30.0,
    topic_config: Mapping[str, str] | None = None,
    configs: Mapping[str, Mapping[str, str]] | None = None,
) -> dict[str, str]:
    """Create ``topics`` (with ``topic_config``, e.g. ``min.insync.replicas``, and each
    topic's own ``configs[name]`` over it); return topic -> ``"created"`` or ``"exists"``.
    Idempotent.

    Blocks up to about ``timeout_s``. An existing topic is left as it is (its partition
    count is not changed). Raises KafkaSetupError on any other failure (bad replication
    factor, authorization, unreachable cluster).
    """
    quiet = _Quiet(admin_config)
    bootstrap = str(admin_config.get("bootstrap.servers", "?"))
    wanted = [
        NewTopic(
            name,
            num_partitions=partitions,
            replication_factor=replication,
            config={**(topic_config or {}), **(configs or {}).get(name, {})},
        )
        for name in topics
    ]
    futures = quiet.client.create_topics(
        wanted, operation_timeout=timeout_s, request_timeout=timeout_s
    )
    result: dict[str, str] = {}
    for name, future in futures.items():
        try:
            future.result(timeout=timeout_s + 5)
            result[name] = CREATED
        except KafkaException as exc:
            err = exc.args[0] if exc.args and isinstance(exc.args[0], KafkaError) else None
            if err is not None and err.code() == KafkaError.TOPIC_ALREADY_EXISTS:
                result[name] = EXISTS
                continue
            reason = err.str() if err is not None else quiet.cause(bootstrap, timeout_s, exc)
            raise KafkaSetupError(f"cannot create topic {name}: {reason}") from None
        except TimeoutError:
            raise KafkaSetupError(quiet.cause(bootstrap, timeout_s)) from None
    return result


def delete_topics(
    admin_config: Mapping[str, Any], topics: Iterable[str], timeout_s: float = 30.0
) -> None:
    """Delete ``topics``, ignoring ones that do not exist. Blocks up to about ``timeout_s``.

    Raises KafkaSetupError on other failures.
    """
    quiet = _Quiet(admin_config)
    futures = quiet.client.delete_topics(
        list(topics), operation_timeout=timeout_s, request_timeout=timeout_s
    )
    for name, future in futures.items():
        try:
            future.result(timeout=timeout_s + 5)
        except KafkaException as exc:
            err = exc.args[0] if exc.args and isinstance(exc.args[0], KafkaError) else None
            if err is not None and err.code() == KafkaError.UNKNOWN_TOPIC_OR_PART:
                continue
            raise KafkaSetupError(f"cannot delete topic {name}: {exc}") from None


def upsert_scram_user(
    admin_config: Mapping[str, Any], username: str, password: str, timeout_s: float = 30.0
) -> None:
    """Create or update a SCRAM-SHA-256 user. Blocks up to about ``timeout_s``.

    The password is sent to the cluster only; it is never part of an error message.
    Raises KafkaSetupError if the cluster refuses.
    """
    quiet = _Quiet(admin_config)
    upsert = UserScramCredentialUpsertion(
        username, ScramCredentialInfo(ScramMechanism.SCRAM_SHA_256, 8192), password.encode()
    )
    futures = quiet.client.alter_user_scram_credentials([upsert], request_timeout=timeout_s)
    for future in futures.values():
        try:
            future.result(timeout=timeout_s + 5)
        except (KafkaException, TimeoutError) as exc:
            raise KafkaSetupError(f"cannot create the SCRAM user {username!r}: {exc}") from None
