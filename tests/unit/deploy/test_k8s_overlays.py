"""deploy/k8s as kustomize builds it (a real kustomize: tests/unit/deploy/render.py): the
base, the GPU pool and two deployments side by side (overlays/team-a and team-b). Every
rendered object is validated strictly (Kubernetes 1.30 API schemas; the KEDA and
Prometheus Operator resources against their documented fields), the values set once in
an overlay's ConfigMap reach the KEDA trigger, KEDA's cap is the partition count, and the
two deployments share no object, group, topic or deployment label."""

from __future__ import annotations

from typing import Any

import kubernetes_validate
import pytest

from consumer.settings import Settings
from tests.unit.deploy.render import K8S, build
from tests.unit.deploy.test_deploy_files import clean_env
from tests.unit.deploy.test_k8s_manifests import (
    CUSTOM_KINDS,
    KUBERNETES_VERSION,
    _check_kafka_trigger,
)

__all__ = ["clean_env"]  # the fixture, used by name below

BUILDS = ("", "base", "gpu", "overlays/team-a", "overlays/team-b")
OVERLAYS = ("overlays/team-a", "overlays/team-b")


def _one(objects: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    [found] = [o for o in objects if o["kind"] == kind and o["metadata"]["name"] == name]
    return found


def _config(objects: list[dict[str, Any]]) -> dict[str, str]:
    data: dict[str, str] = _one(objects, "ConfigMap", "moodstream-config")["data"]
    return data


def _workers(deployment: dict[str, Any]) -> int:
    args = deployment["spec"]["template"]["spec"]["containers"][0]["args"]
    return int(args[args.index("--workers") + 1])


@pytest.mark.parametrize("directory", BUILDS, ids=lambda d: d or "k8s")
def test_the_build_renders_and_validates_strictly(directory: str) -> None:
    objects = build(K8S / directory)
    kinds = {o["kind"] for o in objects}
    assert {"Deployment", "ConfigMap", "ScaledObject", "ServiceMonitor", "Job"} <= kinds
    for obj in objects:
        if obj["kind"] not in CUSTOM_KINDS:
            kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)
    for trigger in _one(objects, "ScaledObject", "moodstream")["spec"]["triggers"]:
        _check_kafka_trigger(trigger)


@pytest.mark.parametrize("directory", BUILDS, ids=lambda d: d or "k8s")
def test_keda_follows_the_configmap_and_caps_at_the_partition_count(directory: str) -> None:
    objects = build(K8S / directory)
    config = _config(objects)
    scaled = _one(objects, "ScaledObject", "moodstream")["spec"]
    [trigger] = scaled["triggers"]
    meta = trigger["metadata"]
    assert meta["bootstrapServers"] == config["MOODSTREAM_KAFKA__BOOTSTRAP_SERVERS"]
    assert meta["consumerGroup"] == config["MOODSTREAM_KAFKA__GROUP_ID"]
    assert meta["topic"] == config["MOODSTREAM_TOPICS__FEATURES"]
    target = _one(objects, "Deployment", scaled["scaleTargetRef"]["name"])
    # one consumer per worker: the cap times the workers per pod is the partition count
    partitions = int(config["MOODSTREAM_TOPICS__PARTITIONS"])
    assert scaled["maxReplicaCount"] * _workers(target) == partitions


def test_two_overlays_side_by_side_share_nothing() -> None:
    a, b = (build(K8S / overlay) for overlay in OVERLAYS)
    keys = [
        {(o["kind"], o["metadata"]["namespace"], o["metadata"]["name"]) for o in x} for x in (a, b)
    ]
    assert keys[0] & keys[1] == set()  # applied together, neither overwrites the other
    assert all(o["metadata"].get("namespace") for o in a + b)
    config_a, config_b = _config(a), _config(b)
    for key in (
        "MOODSTREAM_KAFKA__GROUP_ID",
        "MOODSTREAM_TOPICS__FEATURES",
        "MOODSTREAM_TOPICS__PREDICTIONS",
        "MOODSTREAM_TOPICS__DLQ",
        "MOODSTREAM_KAFKA__BOOTSTRAP_SERVERS",
    ):
        assert config_a[key] != config_b[key], key
    instances = [{o["metadata"]["labels"]["app.kubernetes.io/instance"] for o in x} for x in (a, b)]
    assert len(instances[0]) == len(instances[1]) == 1 and instances[0] != instances[1]
    caps = [_one(x, "ScaledObject", "moodstream")["spec"]["maxReplicaCount"] for x in (a, b)]
    assert caps == [int(_config(x)["MOODSTREAM_TOPICS__PARTITIONS"]) for x in (a, b)]
    assert caps[0] != caps[1]  # the example overlays differ, so the wiring is seen to work


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_an_overlays_configmap_is_valid_settings(
    overlay: str, clean_env: pytest.MonkeyPatch
) -> None:
    for key, value in _config(build(K8S / overlay)).items():
        clean_env.setenv(key, value)
    settings = Settings()
    assert settings.kafka.group_id.endswith(overlay.rsplit("/", 1)[1])
    assert settings.topics.features.startswith(overlay.rsplit("/", 1)[1])
