"""What a platform team needs from deploy/ (issue 16 items 4 and 6): a private CA mounted
from a Secret wherever Kafka is used, the registry as a kustomize field, a NetworkPolicy
that admits only the scraper, a Job creating the topics from the ConfigMap, the lag
exporter beside the service, and shutdown grace periods that cover the supervisor's wait.
(kubernetes-validate checks every manifest: tests/unit/deploy/test_k8s_manifests.py.)"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from consumer.cli import build_parser
from consumer.observability import HEALTHZ_PATH, METRICS_PATH, READYZ_PATH
from consumer.service.supervisor import STOP_KILL_AFTER_S
from consumer.settings import ObservabilitySettings, ProcessingSettings

DEPLOY = Path(__file__).resolve().parents[3] / "deploy"
K8S = DEPLOY / "k8s" / "base"
CA_SECRET, CA_KEY = "moodstream-kafka-ca", "ca.crt"
KAFKA_PODS = (
    ("Deployment", "moodstream"),
    ("StatefulSet", "moodstream-windows"),
    ("Deployment", "moodstream-lag"),
    ("Job", "moodstream-topics"),
)


def objects() -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for path in sorted(K8S.glob("*.yaml")):
        if path.name not in ("kustomization.yaml", "secret.example.yaml"):
            out.extend(d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d)
    return out


def obj(kind: str, name: str) -> dict[str, Any]:
    [found] = [o for o in objects() if o["kind"] == kind and o["metadata"]["name"] == name]
    return found


def pod_spec(kind: str, name: str) -> dict[str, Any]:
    spec: dict[str, Any] = obj(kind, name)["spec"]["template"]["spec"]
    return spec


def config() -> dict[str, str]:
    data: dict[str, str] = obj("ConfigMap", "moodstream-config")["data"]
    return data


def test_every_pod_that_talks_to_kafka_mounts_the_ca_from_its_secret() -> None:
    for kind, name in KAFKA_PODS:
        pod = pod_spec(kind, name)
        [c] = pod["containers"]
        env = {e["name"]: e for e in c["env"]}
        location = Path(env["MOODSTREAM_KAFKA__SSL_CA_LOCATION"]["value"])
        [mount] = [m for m in c["volumeMounts"] if Path(m["mountPath"]) == location.parent]
        assert mount["readOnly"] is True, name
        [volume] = [v for v in pod["volumes"] if v["name"] == mount["name"]]
        assert volume["secret"]["secretName"] == CA_SECRET, name
        assert {"key": CA_KEY, "path": location.name} in volume["secret"]["items"], name
        assert {"configMapRef": {"name": "moodstream-config"}} in c["envFrom"], name
    assert config()["MOODSTREAM_KAFKA__SECURITY_PROTOCOL"] == "SASL_SSL"
    auth = obj("TriggerAuthentication", "moodstream-kafka")["spec"]["secretTargetRef"]
    assert {"parameter": "ca", "name": CA_SECRET, "key": CA_KEY} in auth  # KEDA's own client
    example = (K8S.parent / "secret.example.yaml").read_text(encoding="utf-8")
    assert f"name: {CA_SECRET}" in example and f"{CA_KEY}: |" in example


def test_the_image_registry_is_a_kustomize_field_every_container_uses() -> None:
    [kustomization] = yaml.safe_load_all((K8S / "kustomization.yaml").read_text())
    [image] = kustomization["images"]
    assert image["name"] == "moodstream"
    assert re.fullmatch(r"[a-z0-9.-]+(:\d+)?(/[a-z0-9._-]+)+", image["newName"]), image
    assert image["newTag"]
    containers = [
        c for o in objects() if "template" in o.get("spec", {})
        for c in o["spec"]["template"]["spec"]["containers"]
    ]  # fmt: skip
    assert len(containers) == 4  # scoring, windows, lag exporter, topics Job
    assert {c["image"] for c in containers} == {"moodstream"}  # all rewritten by `images`


def test_the_network_policy_admits_only_the_scraper_to_the_metrics_port() -> None:
    policy = obj("NetworkPolicy", "moodstream-metrics")["spec"]
    assert policy["policyTypes"] == ["Ingress"]
    [selector] = policy["podSelector"]["matchExpressions"]
    assert selector["key"] == "app.kubernetes.io/name" and selector["operator"] == "In"
    served = {
        o["spec"]["selector"]["app.kubernetes.io/name"] for o in objects() if o["kind"] == "Service"
    }
    assert (
        set(selector["values"]) == served == {"moodstream", "moodstream-windows", "moodstream-lag"}
    )
    [rule] = policy["ingress"]
    assert rule["ports"] == [{"port": ObservabilitySettings().port, "protocol": "TCP"}]
    [peer] = rule["from"]  # one peer with both selectors: that namespace AND those pods
    assert set(peer) == {"namespaceSelector", "podSelector"}
    assert peer["podSelector"]["matchLabels"] == {"app.kubernetes.io/name": "prometheus"}


def test_the_topics_job_creates_the_topics_with_the_configmaps_layout() -> None:
    job = obj("Job", "moodstream-topics")["spec"]
    pod = job["template"]["spec"]
    [c] = pod["containers"]
    assert c["args"] == ["topics", "create"]
    args = build_parser().parse_args(c["args"])  # no flags: partitions etc. from settings
    assert args.partitions is None and args.replication_factor is None
    assert int(config()["MOODSTREAM_TOPICS__PARTITIONS"]) >= 1
    assert int(config()["MOODSTREAM_TOPICS__REPLICATION_FACTOR"]) >= 3
    assert pod["restartPolicy"] == "Never" and job["backoffLimit"] >= 1
    assert job["ttlSecondsAfterFinished"] > 0 and job["activeDeadlineSeconds"] > 0
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert c["securityContext"]["readOnlyRootFilesystem"] is True


def test_the_lag_exporter_runs_beside_the_service_and_is_scraped() -> None:
    deployment = obj("Deployment", "moodstream-lag")
    assert deployment["spec"]["replicas"] == 1
    [c] = deployment["spec"]["template"]["spec"]["containers"]
    assert c["args"][:2] == ["lag", "--serve"]
    assert c["livenessProbe"]["httpGet"]["path"] == HEALTHZ_PATH
    assert c["readinessProbe"]["httpGet"]["path"] == READYZ_PATH
    service = obj("Service", "moodstream-lag-metrics")
    annotations = service["metadata"]["annotations"]
    assert annotations["prometheus.io/path"] == METRICS_PATH
    assert annotations["prometheus.io/port"] == str(ObservabilitySettings().port)
    # not selected by the service's PodDisruptionBudget, Service or ScaledObject target
    pdb = obj("PodDisruptionBudget", "moodstream")["spec"]["selector"]["matchLabels"]
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert not set(pdb.items()) <= set(labels.items())


def test_grace_periods_cover_the_drain_bound_and_the_supervisors_kill_wait() -> None:
    drain_s = float(config()["MOODSTREAM_PROCESSING__SHUTDOWN_TIMEOUT_S"])
    assert drain_s == ProcessingSettings().shutdown_timeout_s
    needed_s = drain_s + STOP_KILL_AFTER_S
    assert pod_spec("Deployment", "moodstream")["terminationGracePeriodSeconds"] > needed_s
    assert pod_spec("StatefulSet", "moodstream-windows")["terminationGracePeriodSeconds"] > needed_s
    [compose] = yaml.safe_load_all((DEPLOY / "docker-compose.yml").read_text())
    grace = compose["services"]["moodstream"]["stop_grace_period"]
    assert float(grace.removesuffix("s")) > needed_s
    assert (
        "shutdown_timeout_s + STOP_KILL_AFTER_S"
        in (DEPLOY.parent / "consumer" / "service" / "supervisor.py").read_text()
    )  # the wait these compare with is the one the supervisor uses
