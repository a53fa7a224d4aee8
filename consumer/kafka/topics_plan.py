"""How the service's topics are replicated: the replication factor and ``min.insync.replicas``
that ``topics create`` (and the demo) use, chosen for the cluster at hand.

Unset (the default), the replication factor is ``min(3, brokers)`` and the min ISR
``min(2, replication - 1)`` but at least 1: 3 and 2 on a production-shaped cluster (an
acknowledged write survives the loss of one broker, and one broker may be down without
stopping writes), 1 and 1 on the single-node dev broker, with a note saying so. An
explicit value the cluster cannot satisfy is refused (ConfigError, exit 2).

:func:`topic_specs` is what ``topics create`` creates, topic by topic (partitions,
replication, every topic config, the dead-letter and overflow retention included):
``topics create`` creates exactly these, and ``topics plan`` prints them for a team that
creates its topics itself (GitOps).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from consumer.errors import ConfigError
from consumer.kafka.admin import create_topics, wait_for_cluster
from consumer.settings import TopicSettings

PRODUCTION_REPLICATION = 3
PRODUCTION_MIN_ISR = 2
HOUR_MS = 3_600_000


@dataclass(frozen=True)
class ReplicationPlan:
    replication_factor: int
    min_insync_replicas: int
    note: str | None = None


def plan_replication(
    brokers: int, replication_factor: int | None, min_insync_replicas: int | None
) -> ReplicationPlan:
    """Choose (or check) replication for a cluster of ``brokers`` brokers. Pure.

    Raises ConfigError when an explicit replication factor exceeds the brokers or the
    min ISR exceeds the replication factor.
    """
    note = None
    if replication_factor is None:
        rf = max(1, min(PRODUCTION_REPLICATION, brokers))
        if rf < PRODUCTION_REPLICATION:
            note = (
                f"the cluster has {brokers} broker(s): topics get replication factor {rf} "
                f"(production: {PRODUCTION_REPLICATION} brokers, replication "
                f"{PRODUCTION_REPLICATION}, min ISR {PRODUCTION_MIN_ISR})"
            )
    elif replication_factor > brokers:
        raise ConfigError(
            f"replication factor {replication_factor} needs at least {replication_factor} "
            f"brokers; the cluster has {brokers}: lower MOODSTREAM_TOPICS__REPLICATION_FACTOR "
            "(or --replication-factor) or leave it unset"
        )
    else:
        rf = replication_factor
    min_isr = (
        max(1, min(PRODUCTION_MIN_ISR, rf - 1))
        if min_insync_replicas is None
        else min_insync_replicas
    )
    if min_isr > rf:
        raise ConfigError(
            f"min.insync.replicas {min_isr} exceeds the replication factor {rf}: no write "
            "could ever be acknowledged; lower MOODSTREAM_TOPICS__MIN_INSYNC_REPLICAS"
        )
    return ReplicationPlan(rf, min_isr, note)


@dataclass(frozen=True)
class TopicSpec:
    """One topic as ``topics create`` makes it."""

    role: str  # features, predictions, alerts, dlq, overflow
    name: str
    partitions: int
    replication_factor: int
    config: Mapping[str, str]

    def as_dict(self) -> dict[str, Any]:
        return {
            "role": self.role,
            "name": self.name,
            "partitions": self.partitions,
            "replication_factor": self.replication_factor,
            "config": dict(self.config),
        }


def topic_specs(topics: TopicSettings, partitions: int, plan: ReplicationPlan) -> list[TopicSpec]:
    """The scoring stage's five topics, then the windows stage's three (its inputs, and its
    store's changelog, compacted), with their partitions, replication and configs, in role
    order. Pure. All have the same partitions: the windows stage's inputs must be
    co-partitioned, and its changelog has a partition per input partition."""
    retention_hours = {
        "dlq": topics.dlq_retention_hours,
        "overflow": topics.overflow_retention_hours,
    }
    specs = []
    for role, name in (topics.by_role() | topics.windows_by_role()).items():
        config = {"min.insync.replicas": str(plan.min_insync_replicas)}
        if role in retention_hours:
            config["retention.ms"] = str(retention_hours[role] * HOUR_MS)
        if role == "windows_changelog":
            config["cleanup.policy"] = "compact"
        specs.append(TopicSpec(role, name, partitions, plan.replication_factor, config))
    return specs


def ensure_topics(
    config: Mapping[str, Any],
    topics: TopicSettings,
    timeout_s: float,
    *,
    partitions: int | None = None,
    replication_factor: int | None = None,
    min_insync_replicas: int | None = None,
) -> tuple[dict[str, str], ReplicationPlan]:
    """Create every topic of ``topic_specs`` with a replication plan for this cluster; idempotent.

    Arguments left None fall back to the settings. Blocks up to about 2 x ``timeout_s``.
    Raises ConfigError (plan), KafkaSetupError (cluster, creation).
    """
    metadata = wait_for_cluster(config, timeout_s)
    plan = plan_replication(
        len(metadata.brokers),
        topics.replication_factor if replication_factor is None else replication_factor,
        topics.min_insync_replicas if min_insync_replicas is None else min_insync_replicas,
    )
    specs = topic_specs(topics, topics.partitions if partitions is None else partitions, plan)
    [count] = {spec.partitions for spec in specs}
    result = create_topics(
        config,
        [spec.name for spec in specs],
        count,
        plan.replication_factor,
        timeout_s,
        configs={spec.name: spec.config for spec in specs},
    )
    return result, plan
