"""deploy/, Dockerfile and .dockerignore agree with the code: names, ports, paths, metrics."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client import CollectorRegistry

from consumer.cli import build_parser
from consumer.observability import HEALTHZ_PATH, METRICS_PATH, READYZ_PATH, Metrics
from consumer.observability.metrics import metric_sample_names
from consumer.service.supervisor import STOP_KILL_AFTER_S
from consumer.settings import (
    KafkaSettings,
    ObservabilitySettings,
    ProcessingSettings,
    Settings,
    TopicSettings,
)

ROOT = Path(__file__).resolve().parents[3]
DEPLOY = ROOT / "deploy"
K8S = DEPLOY / "k8s" / "base"  # one deployment; overlays: test_k8s_overlays.py
METRIC_NAME = re.compile(r"\bmoodstream_[a-z0-9_]+\b")


def load_yaml(path: Path) -> list[Any]:
    return [doc for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")) if doc]


def k8s_objects() -> Iterator[dict[str, Any]]:
    for path in sorted(K8S.glob("*.yaml")):
        if path.name != "kustomization.yaml":
            yield from load_yaml(path)


def k8s(kind: str, name: str | None = None) -> dict[str, Any]:
    found = [
        o for o in k8s_objects() if o["kind"] == kind and name in (None, o["metadata"]["name"])
    ]
    assert len(found) == 1, (kind, name, len(found))
    return found[0]


def container() -> dict[str, Any]:
    [c] = k8s("Deployment", "moodstream")["spec"]["template"]["spec"]["containers"]
    return dict(c)


def known_metric_names() -> set[str]:
    """The service's metrics (both stages') and the lag exporter's (``moodstream lag
    --serve``)."""
    from consumer.observability.lag_exporter import LagGauges
    from consumer.windows_stage.metrics import WindowsMetrics

    registry, windows = CollectorRegistry(), CollectorRegistry()
    Metrics(registry)
    LagGauges(registry)
    WindowsMetrics(windows)  # its own registry: it has moodstream_consumer_lag too
    return metric_sample_names(registry) | metric_sample_names(windows)


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    import os

    for key in list(os.environ):
        if key.startswith("MOODSTREAM_"):
            monkeypatch.delenv(key)
    return monkeypatch


# --- every file parses -----------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    sorted(p for p in DEPLOY.rglob("*") if p.suffix in {".yml", ".yaml", ".json"}),
    ids=lambda p: str(p.relative_to(DEPLOY)),
)
def test_file_parses(path: Path) -> None:
    if path.suffix == ".json":
        assert json.loads(path.read_text(encoding="utf-8"))
    else:
        assert load_yaml(path)


# --- Kubernetes ------------------------------------------------------------------------


def test_kustomization_lists_every_manifest_but_the_example_secret() -> None:
    [kustomization] = load_yaml(K8S / "kustomization.yaml")
    listed = set(kustomization["resources"])
    present = {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml"}
    assert listed == present
    assert (K8S.parent / "secret.example.yaml").is_file()  # beside the base, not in it
    assert all("namespace" not in o["metadata"] for o in k8s_objects())
    assert "namespace" not in kustomization


def test_scaledobject_targets_the_group_and_input_topic() -> None:
    scaled = k8s("ScaledObject", "moodstream")  # the windows stage's: test_k8s_windows.py
    assert scaled["spec"]["scaleTargetRef"]["name"] == "moodstream"
    assert k8s("Deployment", "moodstream")
    assert scaled["spec"]["maxReplicaCount"] == TopicSettings().partitions
    [trigger] = scaled["spec"]["triggers"]
    meta = trigger["metadata"]
    assert trigger["type"] == "kafka"
    assert meta["consumerGroup"] == KafkaSettings().group_id
    assert meta["topic"] == TopicSettings().features
    assert int(meta["lagThreshold"]) > 0
    config = k8s("ConfigMap")["data"]
    assert meta["bootstrapServers"] == config["MOODSTREAM_KAFKA__BOOTSTRAP_SERVERS"]
    assert meta["consumerGroup"] == config["MOODSTREAM_KAFKA__GROUP_ID"]
    assert meta["topic"] == config["MOODSTREAM_TOPICS__FEATURES"]
    auth = k8s("TriggerAuthentication", trigger["authenticationRef"]["name"])
    parameters = {r["parameter"] for r in auth["spec"]["secretTargetRef"]}
    assert parameters == {"username", "password", "ca"}


def test_probes_hit_the_paths_and_port_the_server_serves() -> None:
    c = container()
    port = ObservabilitySettings().port
    ports = {p["name"]: p["containerPort"] for p in c["ports"]}
    assert ports["metrics"] == port
    for probe, path in (
        ("livenessProbe", HEALTHZ_PATH),
        ("startupProbe", HEALTHZ_PATH),
        ("readinessProbe", READYZ_PATH),
    ):
        get = c[probe]["httpGet"]
        assert get["path"] == path
        assert get["port"] in (port, "metrics")
    service = k8s("Service", "moodstream-metrics")
    assert service["metadata"]["annotations"]["prometheus.io/port"] == str(port)
    assert service["metadata"]["annotations"]["prometheus.io/path"] == METRICS_PATH
    assert service["spec"]["ports"][0]["port"] == port


def test_deployment_resources_security_and_shutdown() -> None:
    deployment = k8s("Deployment", "moodstream")
    pod = deployment["spec"]["template"]["spec"]
    c = container()
    assert "replicas" not in deployment["spec"]  # KEDA owns it
    assert c["resources"] == {
        "requests": {"cpu": "500m", "memory": "1Gi"},
        "limits": {"cpu": "1", "memory": "2Gi"},
    }
    drain_s = float(k8s("ConfigMap")["data"]["MOODSTREAM_PROCESSING__SHUTDOWN_TIMEOUT_S"])
    assert drain_s == ProcessingSettings().shutdown_timeout_s
    # the supervisor SIGKILLs workers STOP_KILL_AFTER_S after the drain bound: the
    # kubelet's SIGKILL must come later still
    assert pod["terminationGracePeriodSeconds"] == 45 > drain_s + STOP_KILL_AFTER_S
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] != 0
    assert c["securityContext"]["readOnlyRootFilesystem"] is True
    assert c["securityContext"]["allowPrivilegeEscalation"] is False
    [tmp] = [m for m in c["volumeMounts"] if m["mountPath"] == "/tmp"]
    [volume] = [v for v in pod["volumes"] if v["name"] == tmp["name"]]
    assert "emptyDir" in volume
    selector = deployment["spec"]["selector"]["matchLabels"]
    assert k8s("PodDisruptionBudget", "moodstream")["spec"]["selector"]["matchLabels"] == selector
    assert k8s("Service", "moodstream-metrics")["spec"]["selector"] == selector


def valued_from_elsewhere(env: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Entries whose value comes from a Secret or ConfigMap key (``valueFrom`` other than
    the downward API's pod name, KAFKA__INSTANCE_ID)."""
    pod_name = {"fieldRef": {"fieldPath": "metadata.name"}}
    return [e for e in env if "valueFrom" in e and e["valueFrom"] != pod_name]


def test_secrets_come_from_the_mounted_secret_only() -> None:
    c = container()
    env = {e["name"]: e for e in c["env"]}
    # files of the mounted Secret (tests/unit/deploy/test_secret_files.py), no secret value
    # in the environment
    for name in ("KAFKA__SASL_PASSWORD", "OBSERVABILITY__USER_HASH_KEY"):
        assert f"MOODSTREAM_{name}" not in env
        assert env[f"MOODSTREAM_{name}_FILE"]["value"].startswith("/etc/moodstream/secrets/")
    assert not valued_from_elsewhere(c["env"])
    # the other plain value: where the CA Secret is mounted (tests/unit/deploy/test_k8s_deploy.py)
    plain = [e["name"] for e in c["env"] if not e["name"].endswith("_FILE") and "value" in e]
    assert plain == ["MOODSTREAM_KAFKA__SSL_CA_LOCATION"]
    # the pod's name, for stable transactional ids (RELIABILITY.md, "A lost pod")
    assert env["MOODSTREAM_KAFKA__INSTANCE_ID"]["valueFrom"]["fieldRef"] == {
        "fieldPath": "metadata.name"
    }
    config = k8s("ConfigMap")["data"]
    assert not [k for k in config if re.search("PASSWORD|SECRET|HASH_KEY", k)]


def test_configmap_is_valid_settings(clean_env: pytest.MonkeyPatch) -> None:
    for key, value in k8s("ConfigMap")["data"].items():
        assert key.startswith("MOODSTREAM_")
        clean_env.setenv(key, value)
    clean_env.setenv("MOODSTREAM_KAFKA__SASL_USERNAME", "u")
    clean_env.setenv("MOODSTREAM_KAFKA__SASL_PASSWORD", "p")
    settings = Settings()
    assert settings.observability.port == ObservabilitySettings().port
    assert settings.topics.features == TopicSettings().features


# --- docker-compose --------------------------------------------------------------------


def test_compose_stack(clean_env: pytest.MonkeyPatch) -> None:
    [compose] = load_yaml(DEPLOY / "docker-compose.yml")
    services = compose["services"]
    assert services["kafka"]["image"] == "apache/kafka:4.1.0"
    assert "controller" in services["kafka"]["environment"]["KAFKA_PROCESS_ROLES"]
    assert services["topic-init"]["command"] == ["topics", "create"]
    assert services["topic-init"]["build"]["dockerfile"] == "Dockerfile"
    assert (DEPLOY / services["topic-init"]["build"]["context"] / "Dockerfile").is_file()
    service = services["moodstream"]
    assert service["build"] == services["topic-init"]["build"]
    assert service["image"] == services["topic-init"]["image"]
    assert service["command"] == ["run", "--workers", "2"]
    assert service["environment"]["MOODSTREAM_KAFKA__BOOTSTRAP_SERVERS"] == "kafka:9092"
    for key, value in service["environment"].items():
        clean_env.setenv(key, str(value))
    Settings()
    windows = services["moodstream-windows"]  # the windows stage beside the scorer
    assert windows["image"] == service["image"]
    args = build_parser().parse_args(windows["command"])
    assert args.command == "run" and args.stage == "windows"
    assert windows["stop_grace_period"] == service["stop_grace_period"]
    assert windows["read_only"] is True and windows["tmpfs"] == ["/tmp"]
    state_dir = Path(windows["environment"]["MOODSTREAM_WINDOWS__STATE_DIR"])
    assert state_dir.is_relative_to("/tmp")  # the one writable path
    clean_env.setenv("MOODSTREAM_WINDOWS__STATE_DIR", str(state_dir))
    assert Settings().windows.state_dir == state_dir
    assert "moodstream-windows" in services["prometheus"]["depends_on"]
    assert set(services) >= {"prometheus", "grafana"}
    for name in ("prometheus", "grafana"):
        for volume in services[name]["volumes"]:
            assert (DEPLOY / volume.split(":")[0]).exists(), volume


def test_prometheus_scrapes_the_service_and_loads_the_rules() -> None:
    [config] = load_yaml(DEPLOY / "prometheus" / "prometheus.yml")
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    assert set(jobs) == {"moodstream", "moodstream-windows", "moodstream-lag"}
    # the rules tell the two apart by `component`, never by the job's name
    components = {
        name: job["static_configs"][0]["labels"]["component"] for name, job in jobs.items()
    }
    assert components == {
        "moodstream": "consumer",
        "moodstream-windows": "windows",
        "moodstream-lag": "lag-exporter",
    }
    assert {job["static_configs"][0]["labels"]["deployment"] for job in jobs.values()} == {
        "moodstream"
    }
    [compose] = load_yaml(DEPLOY / "docker-compose.yml")
    assert compose["services"]["moodstream-lag"]["command"] == ["lag", "--serve"]
    for name, job in jobs.items():
        assert job["metrics_path"] == METRICS_PATH
        assert job["static_configs"][0]["targets"] == [f"{name}:{ObservabilitySettings().port}"]
    # relative to the config file: ./prometheus is mounted at /etc/prometheus
    assert config["rule_files"] == ["recording.yml", "alerts.yml"]


# --- alert rules and dashboard reference real metrics ----------------------------------


RECORDED_NAME = re.compile(r"\bmoodstream:[a-z0-9_:]+")


def recording_rules() -> dict[str, str]:
    [doc] = load_yaml(DEPLOY / "prometheus" / "recording.yml")
    return {rule["record"]: rule["expr"] for group in doc["groups"] for rule in group["rules"]}


def expand(expr: str) -> str:
    """``expr`` with each recorded series replaced by the expression that records it."""
    recorded = recording_rules()
    return RECORDED_NAME.sub(lambda m: f"({recorded[m.group(0)]})", expr)


def alert_rules() -> list[dict[str, Any]]:
    """The alerts, their ``expr`` expanded (recording rules inlined)."""
    [doc] = load_yaml(DEPLOY / "prometheus" / "alerts.yml")
    rules = [rule for group in doc["groups"] for rule in group["rules"]]
    return [rule | {"expr": expand(rule["expr"])} for rule in rules]


def dashboard_exprs() -> list[str]:
    dash = json.loads((DEPLOY / "grafana" / "dashboards" / "moodstream.json").read_text())
    return [expand(t["expr"]) for p in dash["panels"] for t in p["targets"]]


def test_recorded_series_used_are_recorded() -> None:
    dash = (DEPLOY / "grafana" / "dashboards" / "moodstream.json").read_text()
    alerts = (DEPLOY / "prometheus" / "alerts.yml").read_text()
    used = set(RECORDED_NAME.findall(dash + alerts))
    assert used, "the alerts and the dashboard share no recording rule"
    assert used <= set(recording_rules())


def test_alert_rules_cover_the_runbook() -> None:
    rules = {r["alert"]: r for r in alert_rules()}
    latency = rules["MoodstreamPredictionLatencyHigh"]
    assert "histogram_quantile(0.99" in latency["expr"]
    assert "moodstream_prediction_latency_seconds_bucket" in latency["expr"]
    assert latency["for"] == "5m"
    assert "moodstream_model_timeouts_total" in rules["MoodstreamModelTimeouts"]["expr"]
    assert "moodstream_dead_letters_total" in rules["MoodstreamDeadLetters"]["expr"]
    lag = rules["MoodstreamConsumerLagGrowing"]
    assert "deriv(moodstream_consumer_lag" in lag["expr"] and lag["for"] == "10m"
    assert "moodstream_worker_restarts_total" in rules["MoodstreamWorkerRestarts"]["expr"]
    assert all(r["labels"]["severity"] and r["annotations"]["summary"] for r in rules.values())


@pytest.mark.parametrize("source", ["alerts", "dashboard"])
def test_referenced_metrics_exist(source: str) -> None:
    exprs = [r["expr"] for r in alert_rules()] if source == "alerts" else dashboard_exprs()
    referenced = {name for expr in exprs for name in METRIC_NAME.findall(expr)}
    assert referenced, source
    assert referenced - known_metric_names() == set()


def test_dashboard_panels_and_datasource() -> None:
    dash = json.loads((DEPLOY / "grafana" / "dashboards" / "moodstream.json").read_text())
    [datasource] = load_yaml(DEPLOY / "grafana/provisioning/datasources/prometheus.yml")[0][
        "datasources"
    ]
    titles = " ".join(p["title"].lower() for p in dash["panels"])
    for word in ("throughput", "latency", "lag", "timeouts", "dead letters", "memory"):
        assert word in titles
    assert datasource["type"] == "prometheus"
    # no data source uid of ours: the one the user picks (a variable), per deployment
    assert {p["datasource"]["uid"] for p in dash["panels"]} == {"${datasource}"}
    variables = {v["name"]: v for v in dash["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    for name in ("namespace", "deployment"):
        assert variables[name]["datasource"]["uid"] == "${datasource}"
        assert variables[name]["multi"] is False
    # one deployment at a time: the panels' sums never add two deployments together
    assert variables["deployment"]["includeAll"] is False
    assert 'namespace=~"$namespace"' in variables["deployment"]["query"]["query"]
    # all namespaces: compose's series have none
    assert variables["namespace"]["includeAll"] and variables["namespace"]["allValue"] == ".*"
    raw = [t["expr"] for p in dash["panels"] for t in p["targets"]]
    for expr in raw:  # every series a panel reads is narrowed to the chosen deployments
        for selector in re.findall(r"\bmoodstream[_:][a-z0-9_:]+(\{[^}]*\})?", expr):
            assert 'namespace=~"$namespace"' in selector, expr
            assert 'deployment=~"$deployment"' in selector, expr
    exprs = " ".join(dashboard_exprs())
    for q in ("0.5", "0.95", "0.99"):
        assert (
            f"histogram_quantile({q}, (sum by (namespace, deployment, le) "
            "(rate(moodstream_prediction_latency" in exprs
        )
    [provider] = load_yaml(DEPLOY / "grafana/provisioning/dashboards/moodstream.yml")[0][
        "providers"
    ]
    assert provider["options"]["path"] == "/var/lib/grafana/dashboards"


# --- Dockerfile ------------------------------------------------------------------------


def test_dockerfile() -> None:
    text = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    stages = re.findall(r"^FROM (\S+)(?: AS (\w+))?", text, re.MULTILINE)
    assert len(stages) >= 2 and stages[0][1] == "builder"
    assert re.search(r"^ARG PYTHON_IMAGE=python:3\.11-slim@sha256:", text, re.MULTILINE)
    assert stages[-1][0] == "${PYTHON_IMAGE}"  # dependencies: tests/unit/test_lock.py
    assert re.search(r"^USER 10001", text, re.MULTILINE)
    assert "ENV MOODSTREAM_MODELS__DIR" in text or "MOODSTREAM_MODELS__DIR=/app/models/demo" in text
    assert "/app/models/demo" in text
    assert f"EXPOSE {ObservabilitySettings().port}" in text
    assert HEALTHZ_PATH in text.split("HEALTHCHECK", 1)[1]
    assert 'ENTRYPOINT ["moodstream"]' in text
    assert 'CMD ["run", "--workers", "2"]' in text


def test_dockerignore_keeps_what_the_build_copies() -> None:
    ignored = {
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    assert ".git" in ignored
    needed_paths = ("pyproject.toml", "README.md", "consumer", "schemas", "models/demo")
    for needed in (*needed_paths, "requirements"):
        assert needed not in ignored
    assert "!models/demo" in ignored
