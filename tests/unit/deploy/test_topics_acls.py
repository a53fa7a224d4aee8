"""``moodstream topics plan`` and ``moodstream acls``: what a GitOps team applies itself.
The plan is consumer.kafka.topics_plan.topic_specs, the list ``topics create`` creates
(tests/integration/test_topics_plan.py compares it with a real broker's topics); the ACLs
name the very groups, topics and transactional ids the code uses."""

from __future__ import annotations

import json
from typing import Any

import pytest
import yaml

from consumer.cli import main
from consumer.kafka.acls import (
    PLACEHOLDERS,
    ROLES,
    required_acls,
)
from consumer.kafka.clients import transactional_id
from consumer.kafka.redrive import redrive_group
from consumer.kafka.strimzi import resource_name
from consumer.kafka.topics_plan import HOUR_MS, plan_replication, topic_specs
from consumer.settings import (
    Guarantee,
    KafkaSettings,
    ProcessingSettings,
    Settings,
    TopicSettings,
)
from consumer.windows_stage.wiring import restore_group, windows_settings
from tests.unit.deploy.render import K8S, build
from tests.unit.deploy.test_deploy_files import clean_env

__all__ = ["clean_env"]  # the fixture, used by name below


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_the_plan_has_every_topic_with_its_retention_and_min_isr() -> None:
    topics = TopicSettings(dlq_retention_hours=48, overflow_retention_hours=5)
    specs = {s.role: s for s in topic_specs(topics, 12, plan_replication(3, None, None))}
    scoring = ["features", "predictions", "alerts", "dlq", "overflow"]
    assert list(specs) == [*scoring, "activity", "day_features", "windows_changelog"]
    windows = topics.windows_by_role()
    assert {s.name for s in specs.values()} == set(topics.all()) | set(windows.values())
    assert specs["windows_changelog"].config["cleanup.policy"] == "compact"
    assert "cleanup.policy" not in specs["activity"].config
    assert {(s.partitions, s.replication_factor) for s in specs.values()} == {(12, 3)}
    assert all(s.config["min.insync.replicas"] == "2" for s in specs.values())
    assert specs["dlq"].config["retention.ms"] == str(48 * HOUR_MS) == "172800000"
    assert specs["overflow"].config["retention.ms"] == str(5 * HOUR_MS)
    assert "retention.ms" not in specs["features"].config  # the platform's default
    single = topic_specs(topics, 1, plan_replication(1, None, None))
    assert {(s.replication_factor, s.config["min.insync.replicas"]) for s in single} == {(1, "1")}


def test_topics_plan_prints_the_specs_as_json_table_and_strimzi(
    capsys: pytest.CaptureFixture[str], clean_env: pytest.MonkeyPatch
) -> None:
    clean_env.setenv("MOODSTREAM_TOPICS__REPLICATION_FACTOR", "3")
    code, out, err = _run(capsys, "topics", "plan", "--partitions", "4", "--json")
    assert code == 0, err
    expected = topic_specs(Settings().topics, 4, plan_replication(3, 3, None))
    assert json.loads(out) == {"topics": [s.as_dict() for s in expected]}
    code, out, _ = _run(capsys, "topics", "plan", "--partitions", "4")
    lines = out.splitlines()
    assert code == 0 and len(lines) == 9 and lines[0].split()[:2] == ["ROLE", "TOPIC"]
    assert "retention.ms=1209600000" in lines[4] and lines[4].startswith("dlq")
    code, out, _ = _run(capsys, "topics", "plan", "--partitions", "4", "--strimzi", "prod")
    resources = list(yaml.safe_load_all(out))
    assert code == 0 and [r["kind"] for r in resources] == ["KafkaTopic"] * 8
    for resource, spec in zip(resources, expected, strict=True):
        assert resource["apiVersion"] == "kafka.strimzi.io/v1beta2"
        assert resource["metadata"]["labels"] == {"strimzi.io/cluster": "prod"}
        assert resource["spec"] == {
            "topicName": spec.name,
            "partitions": 4,
            "replicas": 3,
            "config": dict(spec.config),
        }


def test_topics_plan_refuses_what_create_would_refuse(
    capsys: pytest.CaptureFixture[str], clean_env: pytest.MonkeyPatch
) -> None:
    code, _, err = _run(capsys, "topics", "plan", "--brokers", "2", "--replication-factor", "3")
    assert code == 2 and "needs at least 3 brokers" in err
    code, _, err = _run(capsys, "topics", "plan", "--partitions", "0")
    assert code == 2 and "--partitions must be at least 1" in err
    code, _, err = _run(capsys, "topics", "plan", "--brokers", "1")
    assert code == 0 and "note: the cluster has 1 broker(s)" in err


@pytest.mark.parametrize("overlay", ["base", "overlays/team-b"])
def test_the_plan_of_a_deployment_matches_kedas_cap(
    overlay: str, clean_env: pytest.MonkeyPatch
) -> None:
    """KEDA's maxReplicaCount and the partitions `topics create` makes come from the same
    ConfigMap value: the plan of the deployment's settings has as many partitions."""
    objects = build(K8S / overlay)
    [config] = [o["data"] for o in objects if o["kind"] == "ConfigMap"]
    for key, value in config.items():
        clean_env.setenv(key, value)
    settings = Settings()
    specs = topic_specs(settings.topics, settings.topics.partitions, plan_replication(3, 3, None))
    scaled = {o["metadata"]["name"]: o["spec"] for o in objects if o["kind"] == "ScaledObject"}
    for name, role in (("moodstream", "features"), ("moodstream-windows", "activity")):
        [spec] = [s for s in specs if s.role == role]
        assert spec.name == scaled[name]["triggers"][0]["metadata"]["topic"]
        assert spec.partitions == scaled[name]["maxReplicaCount"]


def _grants(acls: list[Any], role: str) -> set[tuple[str, str, str, str]]:
    return {(a.resource_type, a.pattern_type, a.name, a.operation) for a in acls if a.role == role}


def test_the_acls_name_what_the_code_uses() -> None:
    settings = Settings(processing=ProcessingSettings(guarantee=Guarantee.EXACTLY_ONCE))
    acls = required_acls(settings)
    topics, group = settings.topics, settings.kafka.group_id
    service = _grants(acls, "service")
    assert {("TOPIC", "LITERAL", topics.features, op) for op in ("READ", "DESCRIBE")} <= service
    assert {("GROUP", "LITERAL", group, op) for op in ("READ", "DESCRIBE")} <= service
    for name in (topics.predictions, topics.alerts, topics.dlq, topics.overflow):
        assert {("TOPIC", "LITERAL", name, op) for op in ("WRITE", "DESCRIBE")} <= service
    assert ("CLUSTER", "LITERAL", "kafka-cluster", "IDEMPOTENT_WRITE") in service
    [prefix] = {
        a.name for a in acls if a.resource_type == "TRANSACTIONAL_ID" and a.role == "service"
    }
    assert transactional_id(settings, 3, "abcd1234").startswith(prefix)
    assert {op for (_, p, n, op) in service if n == prefix and p == "PREFIXED"} == {
        "WRITE",
        "DESCRIBE",
    }
    assert not [g for g in service if g[3] in {"CREATE", "DELETE", "ALTER"}]  # least privilege
    assert _grants(acls, "lag_exporter") == {
        ("TOPIC", "LITERAL", topics.features, "DESCRIBE"),
        ("GROUP", "LITERAL", group, "DESCRIBE"),
    }
    created = {s.name for s in topic_specs(topics, 1, plan_replication(1, None, None))}
    assert len(created) == 8  # the windows stage's three included: `topics create` makes them
    assert _grants(acls, "topics") == {
        ("TOPIC", "LITERAL", name, op) for name in created for op in ("CREATE", "DESCRIBE")
    }
    redrive = _grants(acls, "redrive")
    [redrive_prefix] = {n for (t, p, n, _) in redrive if t == "GROUP" and p == "PREFIXED"}
    assert redrive_group(settings, "too_large").startswith(redrive_prefix)
    assert redrive_group(settings, None).startswith(redrive_prefix)
    assert ("TOPIC", "LITERAL", topics.dlq, "READ") in redrive
    assert ("TOPIC", "LITERAL", topics.features, "WRITE") in redrive
    assert {a.principal for a in acls} == set(PLACEHOLDERS.values())
    at_least_once = required_acls(Settings(processing=ProcessingSettings()))
    assert not [a for a in at_least_once if a.resource_type == "TRANSACTIONAL_ID"]


def test_the_windows_stage_acls_name_what_the_stage_uses() -> None:
    settings = Settings(
        kafka=KafkaSettings(group_id="team-a"),
        processing=ProcessingSettings(guarantee=Guarantee.EXACTLY_ONCE),
    )
    stage = windows_settings(settings)  # the settings its workers run with
    topics, group = settings.topics, stage.kafka.group_id
    assert group == "team-a-windows"
    windows = _grants(required_acls(settings), "windows")
    for name in (topics.activity, topics.day_features, topics.windows_changelog):
        assert ("TOPIC", "LITERAL", name, "READ") in windows, name  # consume, restore
    for name in (topics.windows_changelog, topics.features, topics.dlq):
        assert ("TOPIC", "LITERAL", name, "WRITE") in windows, name
    for name in (group, restore_group(stage)):
        assert {("GROUP", "LITERAL", name, op) for op in ("READ", "DESCRIBE")} <= windows
    assert ("CLUSTER", "LITERAL", "kafka-cluster", "IDEMPOTENT_WRITE") in windows
    [prefix] = {n for (t, p, n, _) in windows if t == "TRANSACTIONAL_ID" and p == "PREFIXED"}
    assert transactional_id(stage, 0, "abcd").startswith(prefix)
    pod = stage.model_copy(
        update={"kafka": stage.kafka.model_copy(update={"instance_id": "moodstream-windows-0"})}
    )
    assert transactional_id(pod, 0).startswith(prefix)
    assert not transactional_id(settings, 0, "abcd").startswith(prefix)  # the scorer's own
    # least privilege: nothing it does not write, nothing but reads, writes and describes
    written = {n for (_, _, n, op) in windows if op == "WRITE"}
    assert written == {topics.windows_changelog, topics.features, topics.dlq, prefix}
    assert {op for *_, op in windows} == {"READ", "WRITE", "DESCRIBE", "IDEMPOTENT_WRITE"}
    at_least_once = required_acls(Settings(kafka=KafkaSettings(group_id="team-a")))
    assert not [
        a for a in at_least_once if a.role == "windows" and a.resource_type == "TRANSACTIONAL_ID"
    ]


@pytest.mark.parametrize("group_id", ["team-a", "team-a-windows"])
def test_the_windows_acls_grant_the_groups_the_stage_joins(group_id: str) -> None:
    stage = windows_settings(Settings(kafka=KafkaSettings(group_id=group_id)))
    granted = {n for (t, _, n, _) in _grants(required_acls(stage), "windows") if t == "GROUP"}
    assert granted == {stage.kafka.group_id, restore_group(stage)}
    assert stage.kafka.group_id == "team-a-windows"  # never "-windows-windows"


def test_acls_command_json_principals_and_strimzi(
    capsys: pytest.CaptureFixture[str], clean_env: pytest.MonkeyPatch
) -> None:
    code, out, err = _run(
        capsys,
        "acls",
        "--principal",
        "service=User:svc",
        "--principal",
        "lag-exporter=User:svc",
        "--json",
    )
    assert code == 0, err
    rows = json.loads(out)["acls"]
    assert {r["role"] for r in rows} == set(ROLES)
    assert {r["principal"] for r in rows if r["role"] in ("service", "lag_exporter")} == {
        "User:svc"
    }
    assert {r["principal"] for r in rows if r["role"] == "topics"} == {"User:<topics>"}
    assert all(r["permission"] == "ALLOW" and r["host"] == "*" for r in rows)
    code, out, _ = _run(capsys, "acls", "--principal", "service=User:svc", "--strimzi", "prod")
    users = {u["metadata"]["name"]: u for u in yaml.safe_load_all(out)}
    assert code == 0 and set(users) == {
        "svc",
        "windows",
        resource_name("<lag-exporter>"),
        "topics",
        "redrive",
    }
    acls = users["svc"]["spec"]["authorization"]
    assert acls["type"] == "simple"
    [features] = [
        e for e in acls["acls"] if e["resource"].get("name") == Settings().topics.features
    ]
    assert features["resource"] == {
        "type": "topic",
        "name": Settings().topics.features,
        "patternType": "literal",
    }
    assert features["operations"] == ["Read", "Describe"]
    code, _, err = _run(capsys, "acls", "--principal", "nobody")
    assert code == 2 and "ROLE=PRINCIPAL" in err
    code, _, err = _run(capsys, "acls", "--principal", "auditor=User:x")
    assert code == 2 and "unknown role 'auditor'" in err
