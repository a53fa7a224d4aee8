"""The Kafka ACLs each moodstream identity needs (``moodstream acls``), from the settings.

Five identities, each a principal a platform team names (placeholders by default):

- ``service``: ``moodstream run``: reads the input topic in its group, writes the four
  output topics with an idempotent producer, and in exactly-once mode runs transactions
  under the transactional ids ``<KAFKA__GROUP_ID>-<host>-<instance>-<worker>`` (or
  ``<KAFKA__GROUP_ID>-<KAFKA__INSTANCE_ID>-<worker>``; consumer.kafka.clients.transactional_id),
  granted as a prefix;
- ``windows``: ``moodstream run --stage windows`` (docs/windows.md): reads the samples and
  day-features topics in its group ``<KAFKA__GROUP_ID>-windows``, writes complete events
  to the scoring stage's input and dead letters to the DLQ, writes its store's changes to
  the compacted changelog and reads them back on restore (a consumer that only assigns
  partitions, under the group id ``<KAFKA__GROUP_ID>-windows-restore``: granted in case
  the client looks its coordinator up), and in exactly-once mode runs transactions under
  the prefix ``<KAFKA__GROUP_ID>-windows-`` (consumer.windows_stage.wiring; a unit test
  checks these names against it);
- ``lag_exporter``: ``moodstream lag --serve``: describes the group and the input topic;
- ``topics``: ``moodstream topics create`` (the topics Job): creates the eight topics
  (the windows stage's three included);
  a team that creates them itself (``moodstream topics plan``) needs none of these;
- ``redrive``: ``moodstream dlq redrive``: reads the dead-letter topic in the groups
  ``<KAFKA__GROUP_ID>.redrive.<reason>`` (consumer.kafka.redrive.redrive_group) and
  writes the input topic with an idempotent producer.

READ and WRITE imply DESCRIBE in Kafka; DESCRIBE is listed anyway, as most ACL tools
expect. IDEMPOTENT_WRITE on the cluster is what brokers before 2.8 require of an
idempotent producer (later ones accept WRITE on a topic); harmless to grant.
"""

from __future__ import annotations

from dataclasses import dataclass

from consumer.kafka.group_names import restore_group, windows_group
from consumer.settings import Guarantee, Settings

ROLES = ("service", "windows", "lag_exporter", "topics", "redrive")
PLACEHOLDERS = {role: f"User:<{role.replace('_', '-')}>" for role in ROLES}
CLUSTER = "kafka-cluster"


@dataclass(frozen=True)
class Acl:
    """One ALLOW entry: ``principal`` may ``operation`` on ``resource_type`` ``name``."""

    role: str
    principal: str
    resource_type: str  # TOPIC, GROUP, CLUSTER, TRANSACTIONAL_ID
    pattern_type: str  # LITERAL or PREFIXED
    name: str
    operation: str
    why: str
    permission: str = "ALLOW"
    host: str = "*"

    def as_dict(self) -> dict[str, str]:
        return {
            "role": self.role,
            "principal": self.principal,
            "resource_type": self.resource_type,
            "pattern_type": self.pattern_type,
            "name": self.name,
            "operation": self.operation,
            "permission": self.permission,
            "host": self.host,
            "why": self.why,
        }


_Grant = tuple[str, str, str, tuple[str, ...], str]  # type, pattern, name, operations, why


def _service(settings: Settings) -> list[_Grant]:
    topics, group = settings.topics, settings.kafka.group_id
    grants: list[_Grant] = [
        ("TOPIC", "LITERAL", topics.features, ("READ", "DESCRIBE"), "consume the input"),
        ("GROUP", "LITERAL", group, ("READ", "DESCRIBE"), "join the group, commit offsets"),
    ]
    for role in ("predictions", "alerts", "dlq", "overflow"):
        name = getattr(topics, role)
        grants.append(("TOPIC", "LITERAL", name, ("WRITE", "DESCRIBE"), f"publish {role}"))
    grants.append(("CLUSTER", "LITERAL", CLUSTER, ("IDEMPOTENT_WRITE",), "idempotent producer"))
    if settings.processing.guarantee is Guarantee.EXACTLY_ONCE:
        grants.append(
            ("TRANSACTIONAL_ID", "PREFIXED", f"{group}-", ("WRITE", "DESCRIBE"), "exactly-once")
        )
    return grants


def _windows(settings: Settings) -> list[_Grant]:
    topics = settings.topics
    group = windows_group(settings.kafka.group_id)
    restore = restore_group(group)
    grants: list[_Grant] = [
        ("TOPIC", "LITERAL", topics.activity, ("READ", "DESCRIBE"), "consume the samples"),
        ("TOPIC", "LITERAL", topics.day_features, ("READ", "DESCRIBE"), "consume day features"),
        ("GROUP", "LITERAL", group, ("READ", "DESCRIBE"), "join the group, commit offsets"),
        ("GROUP", "LITERAL", restore, ("READ", "DESCRIBE"), "the restore consumer's id"),
        (
            "TOPIC", "LITERAL", topics.windows_changelog, ("READ", "WRITE", "DESCRIBE"),
            "store changelog: write changes, restore",
        ),
        ("TOPIC", "LITERAL", topics.features, ("WRITE", "DESCRIBE"), "publish complete events"),
        ("TOPIC", "LITERAL", topics.dlq, ("WRITE", "DESCRIBE"), "publish dlq"),
        ("CLUSTER", "LITERAL", CLUSTER, ("IDEMPOTENT_WRITE",), "idempotent producer"),
    ]  # fmt: skip
    if settings.processing.guarantee is Guarantee.EXACTLY_ONCE:
        grants.append(
            ("TRANSACTIONAL_ID", "PREFIXED", f"{group}-", ("WRITE", "DESCRIBE"), "exactly-once")
        )
    return grants


def _lag_exporter(settings: Settings) -> list[_Grant]:
    return [
        ("TOPIC", "LITERAL", settings.topics.features, ("DESCRIBE",), "end offsets"),
        ("GROUP", "LITERAL", settings.kafka.group_id, ("DESCRIBE",), "committed offsets"),
    ]


def _topics(settings: Settings) -> list[_Grant]:
    return [
        ("TOPIC", "LITERAL", name, ("CREATE", "DESCRIBE"), "topics create")
        for name in settings.topics.every()
    ]


def _redrive(settings: Settings) -> list[_Grant]:
    topics, group = settings.topics, settings.kafka.group_id
    return [
        ("TOPIC", "LITERAL", topics.dlq, ("READ", "DESCRIBE"), "read dead letters"),
        ("GROUP", "PREFIXED", f"{group}.redrive.", ("READ", "DESCRIBE"), "redrive progress"),
        ("TOPIC", "LITERAL", topics.features, ("WRITE", "DESCRIBE"), "send them back"),
        ("CLUSTER", "LITERAL", CLUSTER, ("IDEMPOTENT_WRITE",), "idempotent producer"),
    ]


_GRANTS = {
    "service": _service,
    "windows": _windows,
    "lag_exporter": _lag_exporter,
    "topics": _topics,
    "redrive": _redrive,
}


def required_acls(settings: Settings, principals: dict[str, str] | None = None) -> list[Acl]:
    """Every ACL of every role, in role order; ``principals`` maps a role to its principal
    (others keep their placeholder). Pure. Raises ValueError on an unknown role."""
    chosen = dict(PLACEHOLDERS)
    for role, principal in (principals or {}).items():
        if role not in chosen:
            raise ValueError(f"unknown role {role!r}: one of {', '.join(ROLES)}")
        chosen[role] = principal
    return [
        Acl(role, chosen[role], kind, pattern, name, operation, why)
        for role in ROLES
        for kind, pattern, name, operations, why in _GRANTS[role](settings)
        for operation in operations
    ]
