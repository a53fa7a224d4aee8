"""Errors moodstream raises on purpose, and the exit codes of every ``moodstream`` command.

Each error carries a one-line message saying what to fix, an ``exit_code`` (an
:class:`ExitCode`) and a short ``hint`` (shown in ``--json`` errors).

MoodstreamError                      exit code 1 unless stated
├── ConfigError                      bad settings or arguments (exit 2)
├── BrokerError                      the local broker cannot be fetched, started or reached
│   └── ToolMissingError             java or mvn is not installed
├── KafkaSetupError                  auth, unreachable cluster, missing topic, ACL (exit 4)
│   └── ClusterUnreachableError      no answer in time (at runtime: an outage, waited out)
├── ModelLoadError                   missing file, checksum mismatch, wrong feature names or shapes
├── InvalidEvent                     one input message failed decoding/validation (→ dead letter)
├── PoisonFloodError                 too many consecutive invalid events on one partition (exit 6)
└── CommandTimedOut                  ``--timeout-s`` passed before the command finished (exit 124)
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """Every exit code a ``moodstream`` command returns, one meaning each (docs/cli.md has
    the table; ``tests/unit/test_cli_conventions.py`` keeps the two equal)."""

    OK = 0  # done
    FAILED = 1  # the command ran and did not succeed (the message or its output says why)
    CONFIG = 2  # bad settings or arguments: nothing was done
    NOT_RUNNING = 3  # `broker status`: the local broker (or a node of the cluster) is down
    KAFKA = 4  # the cluster refused or did not answer: auth, TLS, address, topic, ACL
    DIFFERS = 5  # `score --expect`: a prediction differs from the expected one
    POISON_FLOOD = 6  # `run` stopped: an input partition is flooded with invalid events
    TIMED_OUT = 124  # `--timeout-s` passed before the command finished
    SIGHUP = 129  # stopped by SIGHUP (128 + 1)
    INTERRUPTED = 130  # stopped by Ctrl-C / SIGINT (128 + 2)
    TERMINATED = 143  # stopped by SIGTERM (128 + 15)


# pydantic's own words before a validator's message ("Value error, TOPICS__DLQ is empty").
_LIBRARY_PREFIXES = ("Value error, ", "Assertion failed, ")


def without_library_words(message: str) -> str:
    """A validation message in the project's words: pydantic's prefix removed. Pure."""
    for prefix in _LIBRARY_PREFIXES:
        message = message.removeprefix(prefix)
    return message


class MoodstreamError(Exception):
    exit_code: int = ExitCode.FAILED
    hint = ""


class ConfigError(MoodstreamError):
    exit_code = ExitCode.CONFIG
    hint = (
        "fix the setting or argument the message names; `moodstream config --check` runs "
        "every start-up check without Kafka"
    )


class BrokerError(MoodstreamError):
    hint = "`moodstream broker status`; `moodstream broker start` starts the local broker"


class ToolMissingError(BrokerError):
    pass


class KafkaSetupError(MoodstreamError):
    exit_code = ExitCode.KAFKA
    hint = (
        "check MOODSTREAM_KAFKA__BOOTSTRAP_SERVERS, the credentials, the topics "
        "(`moodstream topics create`) and the ACLs"
    )


class ClusterUnreachableError(KafkaSetupError):
    """The cluster did not answer in time, without a cause that rules out a later answer
    (not authentication, TLS or an unresolvable name)."""


class ModelLoadError(MoodstreamError):
    hint = "check MOODSTREAM_MODELS__DIR and its manifest.json (`moodstream models info`)"


class SchemaRegistryUnavailable(MoodstreamError):
    """The Schema Registry did not answer (connection refused, timeout, 5xx): the records
    that need it wait and are retried; none of them is dead-lettered for it."""


class InvalidEvent(MoodstreamError):
    """A message that cannot become a FeatureEvent. ``reason`` is a short metric label."""

    def __init__(
        self, reason: str, message: str, *, topic: str = "", partition: int = -1, offset: int = -1
    ) -> None:
        super().__init__(message)
        self.reason = reason
        self.topic = topic
        self.partition = partition
        self.offset = offset


class PoisonFloodError(MoodstreamError):
    exit_code = ExitCode.POISON_FLOOD
    hint = "fix the upstream producer (the dead-letter topic shows what it sends), then restart"

    def __init__(self, topic: str, partition: int, count: int) -> None:
        super().__init__(
            f"{count} consecutive invalid events on {topic}[{partition}]: the upstream producer "
            "looks broken; fix it (or raise PROCESSING__DLQ_MAX_CONSECUTIVE) and restart"
        )
        self.topic = topic
        self.partition = partition
        self.count = count


class CommandTimedOut(MoodstreamError):
    """``--timeout-s`` passed before the command finished."""

    exit_code = ExitCode.TIMED_OUT
    hint = "raise --timeout-s, or leave it out to wait as long as the command needs"
