"""The Kubernetes manifests (deploy/k8s) validated against the API schemas of a stated
Kubernetes version with ``kubernetes-validate`` (schemas ship in the package, strict: an
unknown field fails), and the KEDA custom resources against the fields KEDA documents
for the version the manifest names.

KEDA fields below are from the KEDA 2.15 documentation: "ScaledObject specification"
(keda.sh/docs/2.15/reference/scaledobject-spec), "Apache Kafka" scaler
(keda.sh/docs/2.15/scalers/apache-kafka) and "Authentication"
(keda.sh/docs/2.15/concepts/authentication). The CRD declares trigger metadata as a map
of strings, so a YAML boolean or number there is rejected by the API server.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

K8S = Path(__file__).resolve().parents[3] / "deploy" / "k8s" / "base"
KUBERNETES_VERSION = "1.30.0"
KEDA_VERSION = "2.15"
KEDA_KINDS = {"ScaledObject", "TriggerAuthentication"}
# Prometheus Operator custom resources: checked in test_k8s_monitoring.py
MONITORING_KINDS = {"ServiceMonitor", "PrometheusRule"}
CUSTOM_KINDS = KEDA_KINDS | MONITORING_KINDS

SCALED_OBJECT_SPEC: dict[str, Any] = {
    "scaleTargetRef": {"apiVersion", "kind", "name", "envSourceContainerName"},
    "pollingInterval": int,
    "cooldownPeriod": int,
    "initialCooldownPeriod": int,
    "idleReplicaCount": int,
    "minReplicaCount": int,
    "maxReplicaCount": int,
    "fallback": {"failureThreshold", "replicas"},
    "advanced": {
        "restoreToOriginalReplicaCount",
        "horizontalPodAutoscalerConfig",
        "scalingModifiers",
    },
    "triggers": list,
}
HPA_CONFIG = {"name", "behavior"}
HPA_RULES = {"stabilizationWindowSeconds", "selectPolicy", "policies"}
HPA_POLICY = {"type", "value", "periodSeconds"}
TRIGGER = {"type", "metadata", "name", "useCachedMetrics", "authenticationRef", "metricType"}
KAFKA_METADATA = {
    "bootstrapServers", "consumerGroup", "topic", "lagThreshold", "activationLagThreshold",
    "offsetResetPolicy", "allowIdleConsumers", "scaleToZeroOnInvalidOffset",
    "excludePersistentLag", "limitToPartitionsWithLag", "version", "partitionLimitation",
    "sasl", "saslTokenProvider", "tls", "unsafeSsl", "awsRegion",
}  # fmt: skip
KAFKA_VALUES = {
    "offsetResetPolicy": {"latest", "earliest"},
    "sasl": {"plaintext", "scram_sha256", "scram_sha512", "gssapi", "oauthbearer", "none"},
    "tls": {"enable", "disable"},
    "allowIdleConsumers": {"true", "false"},
    "scaleToZeroOnInvalidOffset": {"true", "false"},
    "excludePersistentLag": {"true", "false"},
    "limitToPartitionsWithLag": {"true", "false"},
    "unsafeSsl": {"true", "false"},
}
KAFKA_AUTH_PARAMETERS = {
    "sasl", "saslTokenProvider", "username", "password", "keytab", "realm", "kerberosConfig",
    "kerberosServiceName", "oauthTokenEndpointUri", "scopes", "oauthExtensions", "tls", "ca",
    "cert", "key", "keyPassword", "awsRoleArn", "awsAccessKeyID", "awsSecretAccessKey",
}  # fmt: skip
TRIGGER_AUTH_SPEC = {
    "podIdentity", "secretTargetRef", "env", "hashiCorpVault", "azureKeyVault",
    "awsSecretManager", "gcpSecretManager",
}  # fmt: skip
SECRET_TARGET_REF = {"parameter", "name", "key"}


def documents() -> list[tuple[str, dict[str, Any]]]:
    out = []
    for path in sorted(K8S.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")):
            if doc:
                out.append((path.name, doc))
    return out


def api_objects() -> list[tuple[str, dict[str, Any]]]:
    return [
        (name, doc)
        for name, doc in documents()
        if doc["kind"] not in CUSTOM_KINDS and doc["kind"] != "Kustomization"
    ]


def keda(kind: str) -> list[dict[str, Any]]:
    return [doc for _, doc in documents() if doc["kind"] == kind]


@pytest.mark.parametrize(
    "name_and_doc",
    api_objects(),
    ids=lambda nd: f"{nd[0]}:{nd[1]['kind']}/{nd[1]['metadata']['name']}",
)
def test_manifest_is_valid_for_kubernetes(name_and_doc: tuple[str, dict[str, Any]]) -> None:
    _, doc = name_and_doc
    kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)


def test_every_document_is_checked_somewhere() -> None:
    kinds = {doc["kind"] for _, doc in documents()}
    assert {"Deployment", "ConfigMap", "Service", "PodDisruptionBudget"} <= kinds
    assert {"NetworkPolicy", "Job"} <= kinds
    assert kinds & KEDA_KINDS == KEDA_KINDS
    assert "ServiceMonitor" in kinds
    for _, doc in documents():
        if doc["kind"] in CUSTOM_KINDS:
            group = "keda.sh/v1alpha1" if doc["kind"] in KEDA_KINDS else "monitoring.coreos.com/v1"
            assert doc["apiVersion"] == group
            with pytest.raises(kubernetes_validate.SchemaNotFoundError):
                kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)


def test_strict_validation_rejects_an_unknown_field() -> None:
    [deployment] = [
        d
        for _, d in api_objects()
        if d["kind"] == "Deployment" and d["metadata"]["name"] == "moodstream"
    ]
    broken = yaml.safe_load(yaml.safe_dump(deployment))
    broken["spec"]["template"]["spec"]["containers"][0]["resource"] = {}  # typo of resources
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES_VERSION, strict=True)


def test_the_keda_manifest_names_the_version_checked() -> None:
    text = (K8S / "keda-scaledobject.yaml").read_text(encoding="utf-8")
    assert re.search(rf"\bKEDA {re.escape(KEDA_VERSION)}\b", text)


def _unknown(fields: dict[str, Any], allowed: set[str] | dict[str, Any]) -> set[str]:
    return set(fields) - set(allowed)


def test_scaled_object_uses_only_documented_fields() -> None:
    for scaled in keda("ScaledObject"):
        spec = scaled["spec"]
        assert _unknown(spec, SCALED_OBJECT_SPEC) == set()
        for field, allowed in SCALED_OBJECT_SPEC.items():
            if field not in spec:
                continue
            if isinstance(allowed, set):
                assert _unknown(spec[field], allowed) == set(), field
            else:
                assert isinstance(spec[field], allowed), field
        hpa = spec.get("advanced", {}).get("horizontalPodAutoscalerConfig", {})
        assert _unknown(hpa, HPA_CONFIG) == set()
        for rules in hpa.get("behavior", {}).values():
            assert _unknown(rules, HPA_RULES) == set()
            assert all(_unknown(p, HPA_POLICY) == set() for p in rules.get("policies", []))
        assert spec.get("minReplicaCount", 0) <= spec.get("maxReplicaCount", 100)
        for trigger in spec["triggers"]:
            _check_kafka_trigger(trigger)


def _check_kafka_trigger(trigger: dict[str, Any]) -> None:
    assert _unknown(trigger, TRIGGER) == set()
    assert trigger["type"] == "kafka"
    metadata = trigger["metadata"]
    assert _unknown(metadata, KAFKA_METADATA) == set()
    assert {"bootstrapServers", "consumerGroup"} <= set(metadata)
    assert all(isinstance(v, str) for v in metadata.values()), "metadata values are strings"
    for field, values in KAFKA_VALUES.items():
        if field in metadata:
            assert metadata[field] in values, (field, metadata[field])
    for field in ("lagThreshold", "activationLagThreshold"):
        if field in metadata:
            assert int(metadata[field]) >= 0
    if "authenticationRef" in trigger:
        ref = trigger["authenticationRef"]
        assert _unknown(ref, {"name", "kind"}) == set()
        names = {a["metadata"]["name"] for a in keda("TriggerAuthentication")}
        assert ref["name"] in names


def test_trigger_authentication_uses_only_documented_fields() -> None:
    for auth in keda("TriggerAuthentication"):
        spec = auth["spec"]
        assert _unknown(spec, TRIGGER_AUTH_SPEC) == set()
        for ref in spec.get("secretTargetRef", []):
            assert _unknown(ref, SECRET_TARGET_REF) == set() and set(ref) == SECRET_TARGET_REF
            assert ref["parameter"] in KAFKA_AUTH_PARAMETERS, ref["parameter"]
        parameters = {r["parameter"] for r in spec.get("secretTargetRef", [])}
        sasl = {
            t["metadata"].get("sasl") for s in keda("ScaledObject") for t in s["spec"]["triggers"]
        }
        if sasl - {None, "none"}:
            assert {"username", "password"} <= parameters, "SASL needs username and password"


def test_a_misspelt_keda_field_is_caught() -> None:
    """The checks above can fail: a typo in a Kafka parameter is reported."""
    [scaled] = [s for s in keda("ScaledObject") if s["metadata"]["name"] == "moodstream"]
    trigger = dict(scaled["spec"]["triggers"][0])
    trigger["metadata"] = {**trigger["metadata"], "lagTreshold": "5"}
    with pytest.raises(AssertionError):
        _check_kafka_trigger(trigger)
    trigger["metadata"] = {**scaled["spec"]["triggers"][0]["metadata"], "allowIdleConsumers": False}
    with pytest.raises(AssertionError):
        _check_kafka_trigger(trigger)
