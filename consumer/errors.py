"""Errors moodstream raises on purpose. Each carries a one-line message saying what to fix.

MoodstreamError                      exit code 1 unless stated
├── ConfigError                      bad settings or arguments (exit 2)
├── BrokerError                      the local broker cannot be fetched, started or reached
│   └── ToolMissingError             java or mvn is not installed
├── KafkaSetupError                  auth, unreachable cluster, missing topic, ACL (exit 4)
│   └── ClusterUnreachableError      no answer in time (at runtime: an outage, waited out)
├── ModelLoadError                   missing file, checksum mismatch, wrong feature names or shapes
├── InvalidEvent                     one input message failed decoding/validation (→ dead letter)
└── PoisonFloodError                 too many consecutive invalid events on one partition
"""

from __future__ import annotations


class MoodstreamError(Exception):
    exit_code = 1


class ConfigError(MoodstreamError):
    exit_code = 2


class BrokerError(MoodstreamError):
    pass


class ToolMissingError(BrokerError):
    pass


class KafkaSetupError(MoodstreamError):
    exit_code = 4


class ClusterUnreachableError(KafkaSetupError):
    """The cluster did not answer in time, without a cause that rules out a later answer
    (not authentication, TLS or an unresolvable name)."""


class ModelLoadError(MoodstreamError):
    pass


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
    def __init__(self, topic: str, partition: int, count: int) -> None:
        super().__init__(
            f"{count} consecutive invalid events on {topic}[{partition}]: the upstream producer "
            "looks broken; fix it (or raise PROCESSING__DLQ_MAX_CONSECUTIVE) and restart"
        )
        self.topic = topic
        self.partition = partition
        self.count = count
