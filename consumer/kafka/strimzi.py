"""The topic plan and the ACLs as Strimzi resources (``kafka.strimzi.io/v1beta2``
KafkaTopic and KafkaUser), for a team that manages its Kafka through GitOps.

The YAML is written here (no YAML library in the service's dependencies): block
mappings and lists, every string a JSON string (which YAML reads as the same string).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from typing import Any

from consumer.kafka.acls import Acl
from consumer.kafka.topics_plan import TopicSpec

API_VERSION = "kafka.strimzi.io/v1beta2"
CLUSTER_LABEL = "strimzi.io/cluster"
_RESOURCE_TYPES = {
    "TOPIC": "topic",
    "GROUP": "group",
    "CLUSTER": "cluster",
    "TRANSACTIONAL_ID": "transactionalId",
}
_PATTERNS = {"LITERAL": "literal", "PREFIXED": "prefix"}


def resource_name(name: str) -> str:
    """A Kubernetes object name (DNS-1123 subdomain) for ``name``: lower case, any other
    character than a-z, 0-9, '-', '.' replaced by '-', trimmed to 253. Pure."""
    cleaned = re.sub(r"[^a-z0-9.-]", "-", name.lower()).strip("-.")
    return cleaned[:253].rstrip("-.") or "moodstream"


def _operation(name: str) -> str:
    """``IDEMPOTENT_WRITE`` -> ``IdempotentWrite`` (Strimzi's spelling). Pure."""
    return "".join(part.capitalize() for part in name.split("_"))


def _scalar(value: Any) -> str:
    return (
        str(value) if isinstance(value, int) and not isinstance(value, bool) else json.dumps(value)
    )


def _yaml(value: Any, indent: int = 0) -> list[str]:
    """Block YAML lines for dicts, lists and scalars. Pure."""
    pad = " " * indent
    lines: list[str] = []
    if isinstance(value, dict):
        for key, item in value.items():
            shown_key = key if re.fullmatch(r"[A-Za-z][A-Za-z0-9]*", key) else json.dumps(key)
            if isinstance(item, dict | list) and item:
                lines += [f"{pad}{shown_key}:", *_yaml(item, indent + 2)]
            else:
                shown = json.dumps(item) if isinstance(item, dict | list) else _scalar(item)
                lines.append(f"{pad}{shown_key}: {shown}")
    elif isinstance(value, list):
        for item in value:
            nested = _yaml(item, indent + 2)
            lines.append(f"{pad}- {nested[0].lstrip()}")
            lines += nested[1:]
    else:
        lines.append(f"{pad}{_scalar(value)}")
    return lines


def documents(resources: Iterable[dict[str, Any]]) -> str:
    """The resources as one YAML stream (``---`` between documents). Pure."""
    return "\n".join("---\n" + "\n".join(_yaml(r)) for r in resources) + "\n"


def kafka_topics(specs: Sequence[TopicSpec], cluster: str) -> list[dict[str, Any]]:
    """One KafkaTopic per planned topic, for the Strimzi cluster ``cluster``. Pure."""
    return [
        {
            "apiVersion": API_VERSION,
            "kind": "KafkaTopic",
            "metadata": {"name": resource_name(s.name), "labels": {CLUSTER_LABEL: cluster}},
            "spec": {
                "topicName": s.name,
                "partitions": s.partitions,
                "replicas": s.replication_factor,
                "config": dict(s.config),
            },
        }
        for s in specs
    ]


def kafka_users(acls: Sequence[Acl], cluster: str) -> list[dict[str, Any]]:
    """One KafkaUser per principal with its ACLs (simple authorization), the user named
    after the principal (``User:`` dropped). Pure."""
    users: dict[str, list[dict[str, Any]]] = {}
    for acl in acls:
        resource: dict[str, Any] = {"type": _RESOURCE_TYPES[acl.resource_type]}
        if acl.resource_type != "CLUSTER":
            resource |= {"name": acl.name, "patternType": _PATTERNS[acl.pattern_type]}
        entries = users.setdefault(acl.principal, [])
        same = [e for e in entries if e["resource"] == resource]
        if same and _operation(acl.operation) not in same[0]["operations"]:
            same[0]["operations"].append(_operation(acl.operation))
        elif same:
            continue
        else:
            entries.append(
                {"resource": resource, "operations": [_operation(acl.operation)], "host": acl.host}
            )
    return [
        {
            "apiVersion": API_VERSION,
            "kind": "KafkaUser",
            "metadata": {
                "name": resource_name(principal.removeprefix("User:")),
                "labels": {CLUSTER_LABEL: cluster},
            },
            "spec": {"authorization": {"type": "simple", "acls": entries}},
        }
        for principal, entries in users.items()
    ]
