"""The windows stage as its own workload (deploy/k8s/base/windows.yaml, issue 26 item 6): a
StatefulSet running ``run --stage windows`` with its store on a volume of its own, the
scoring Deployment's conventions (probes, security, grace period, stable transactional
ids from the pod's name), env names Settings reads, scraped with component "windows",
and scaled by KEDA on its own group's lag with the partition count as its cap, in every
build (base, GPU pool, both overlays). Strict schema validation of every rendered object:
tests/unit/deploy/test_k8s_overlays.py."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from consumer.cli import build_parser
from consumer.settings import Settings
from consumer.settings_env import unknown_variables
from consumer.windows_stage.wiring import windows_settings
from tests.unit.deploy.render import K8S, build
from tests.unit.deploy.test_deploy_files import clean_env, k8s, valued_from_elsewhere
from tests.unit.deploy.test_k8s_manifests import _check_kafka_trigger
from tests.unit.deploy.test_k8s_overlays import BUILDS, _config, _one

__all__ = ["clean_env"]  # the fixture, used by name below

NAME = "moodstream-windows"


def _pod(objects: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    found = k8s("StatefulSet", NAME) if objects is None else _one(objects, "StatefulSet", NAME)
    pod: dict[str, Any] = found["spec"]["template"]["spec"]
    return pod


def _settings(config: dict[str, str], env: pytest.MonkeyPatch) -> Settings:
    for key, value in config.items():
        env.setenv(key, value)
    return Settings()


def test_the_statefulset_runs_the_windows_stage_with_its_store_on_a_claimed_volume() -> None:
    stateful = k8s("StatefulSet", NAME)
    spec = stateful["spec"]
    assert "replicas" not in spec  # KEDA owns it
    [c] = _pod()["containers"]
    args = build_parser().parse_args(c["args"])
    assert args.stage == "windows" and args.workers == 1
    env = {e["name"]: e for e in c["env"]}
    state_dir = Path(env["MOODSTREAM_WINDOWS__STATE_DIR"]["value"])
    [mount] = [m for m in c["volumeMounts"] if Path(m["mountPath"]) == state_dir]
    [claim] = spec["volumeClaimTemplates"]
    assert claim["metadata"]["name"] == mount["name"]
    assert claim["spec"]["accessModes"] == ["ReadWriteOnce"]
    assert mount["name"] not in {
        v["name"] for v in _pod()["volumes"]
    }  # the claim, not a pod volume
    # KEDA's scale-downs delete the claims of the pods they remove
    assert spec["persistentVolumeClaimRetentionPolicy"] == {
        "whenScaled": "Delete",
        "whenDeleted": "Delete",
    }
    assert spec["podManagementPolicy"] == "Parallel"


def test_the_windows_pods_follow_the_scoring_pods_conventions() -> None:
    scoring = k8s("Deployment", "moodstream")["spec"]["template"]["spec"]
    windows = _pod()
    [sc], [wc] = scoring["containers"], windows["containers"]
    assert windows["securityContext"] == scoring["securityContext"]
    assert wc["securityContext"] == sc["securityContext"]
    assert windows["terminationGracePeriodSeconds"] == scoring["terminationGracePeriodSeconds"]
    assert windows["automountServiceAccountToken"] is False
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        assert wc[probe]["httpGet"] == sc[probe]["httpGet"], probe
    assert wc["ports"] == sc["ports"] and wc["envFrom"] == sc["envFrom"]
    assert wc["resources"]["limits"]["cpu"] == sc["resources"]["limits"]["cpu"]  # one worker
    assert set(wc["resources"]) == {"requests", "limits"}
    # the same credentials files and CA as the scoring pods, no secret in the environment
    files = {e["name"] for e in sc["env"] if e["name"].endswith("_FILE")}
    assert files <= {e["name"] for e in wc["env"]}
    assert not valued_from_elsewhere(wc["env"])
    env = {e["name"]: e for e in wc["env"]}
    assert env["MOODSTREAM_KAFKA__INSTANCE_ID"]["valueFrom"]["fieldRef"] == {
        "fieldPath": "metadata.name"
    }  # a StatefulSet pod keeps its name: stable transactional ids


def test_every_env_name_of_the_windows_pods_is_a_setting(
    clean_env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    [c] = _pod()["containers"]
    names = {e["name"]: e.get("value", "pod-0") for e in c["env"]}
    assert unknown_variables(Settings, names) == []  # every name (and *_FILE) is read
    typo = "MOODSTREAM_" + "WINDOWS__STATE_DIRR"  # (split: not a name the project uses)
    assert [u.name for u in unknown_variables(Settings, {typo: ""})] == [typo]  # can fail
    plain = {n: v for n, v in names.items() if not n.endswith("_FILE")}
    (tmp_path / "ca.crt").write_text("PEM", encoding="utf-8")
    plain["MOODSTREAM_KAFKA__SSL_CA_LOCATION"] = str(tmp_path / "ca.crt")  # mounted in the pod
    settings = _settings({**k8s("ConfigMap")["data"], **plain}, clean_env)
    assert settings.windows.state_dir == Path(plain["MOODSTREAM_WINDOWS__STATE_DIR"])
    assert settings.kafka.instance_id == "pod-0"


def test_the_windows_pods_are_scraped_and_disrupted_one_at_a_time() -> None:
    service = k8s("Service", "moodstream-windows-metrics")
    selector = k8s("StatefulSet", NAME)["spec"]["selector"]["matchLabels"]
    assert service["spec"]["selector"] == selector
    assert service["spec"]["clusterIP"] == "None"  # the StatefulSet's governing Service
    assert k8s("StatefulSet", NAME)["spec"]["serviceName"] == service["metadata"]["name"]
    assert service["metadata"]["labels"]["app.kubernetes.io/component"] == "windows"
    [expression] = k8s("ServiceMonitor")["spec"]["selector"]["matchExpressions"]
    assert service["metadata"]["labels"][expression["key"]] in expression["values"]
    pdb = k8s("PodDisruptionBudget", NAME)["spec"]
    assert pdb["selector"]["matchLabels"] == selector and pdb["maxUnavailable"] == 1
    # neither the scoring Service nor its PDB selects the windows pods
    labels = k8s("StatefulSet", NAME)["spec"]["template"]["metadata"]["labels"]
    for kind, name, path in (
        ("Service", "moodstream-metrics", ("spec", "selector")),
        ("PodDisruptionBudget", "moodstream", ("spec", "selector", "matchLabels")),
    ):
        found: Any = k8s(kind, name)
        for key in path:
            found = found[key]
        assert not set(found.items()) <= set(labels.items()), name


@pytest.mark.parametrize("directory", BUILDS, ids=lambda d: d or "k8s")
def test_keda_scales_the_windows_stage_on_its_groups_lag(
    directory: str, clean_env: pytest.MonkeyPatch
) -> None:
    objects = build(K8S / directory)
    config = _config(objects)
    settings = windows_settings(_settings(config, clean_env))
    scaled = _one(objects, "ScaledObject", NAME)["spec"]
    assert scaled["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "name": NAME,
    }
    [trigger] = scaled["triggers"]
    _check_kafka_trigger(trigger)
    meta = trigger["metadata"]
    assert meta["bootstrapServers"] == config["MOODSTREAM_KAFKA__BOOTSTRAP_SERVERS"]
    assert meta["consumerGroup"] == settings.kafka.group_id  # <KAFKA__GROUP_ID>-windows
    assert meta["consumerGroup"] != config["MOODSTREAM_KAFKA__GROUP_ID"]
    assert meta["topic"] == settings.topics.activity
    # one worker per pod: the cap is the partition count of the co-partitioned inputs
    assert scaled["maxReplicaCount"] == settings.topics.partitions
    [c] = _pod(objects)["containers"]
    assert build_parser().parse_args(c["args"]).workers == 1
