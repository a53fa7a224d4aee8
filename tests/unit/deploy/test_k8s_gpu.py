"""The GPU worker pool (deploy/k8s/gpu): a kustomize overlay of the base that replaces the
CPU Deployment with ``moodstream-gpu``. Checked like the base manifests (Kubernetes 1.30
API schemas, strict), then as the overlay builds it (its delete and JSON patches applied
here to the base's objects): one Deployment in the group, KEDA scaling it, selectors that
still find its pods, a GPU limit and node selector, settings that parse, and a pod that
differs from the CPU one only where a GPU needs it (so a later change to the CPU pod's
probes, CA mount or security cannot silently skip the GPU pod)."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from consumer.settings import Settings
from tests.unit.deploy.test_deploy_files import clean_env, load_yaml

__all__ = ["clean_env"]  # the fixture, used by name below

K8S = Path(__file__).resolve().parents[3] / "deploy" / "k8s" / "base"
GPU = K8S.parent / "gpu"
KUBERNETES_VERSION = "1.30.0"
PARTITIONS = 6  # the input topic's partitions (topics-job.yaml, keda maxReplicaCount)


def _kustomization(directory: Path) -> dict[str, Any]:
    [found] = load_yaml(directory / "kustomization.yaml")
    kustomization: dict[str, Any] = found
    return kustomization


def _resources(directory: Path) -> list[dict[str, Any]]:
    """The objects a kustomization lists, a base directory's recursively."""
    out: list[dict[str, Any]] = []
    for entry in _kustomization(directory)["resources"]:
        path = (directory / entry).resolve()
        out += _built(path) if path.is_dir() else load_yaml(path)
    return out


def _matches(obj: dict[str, Any], target: dict[str, str]) -> bool:
    return bool(obj["kind"] == target["kind"] and obj["metadata"]["name"] == target["name"])


def _json_patch(obj: dict[str, Any], operations: list[dict[str, Any]]) -> None:
    for op in operations:
        assert op["op"] == "replace", op
        *parents, last = op["path"].strip("/").split("/")
        node = obj
        for key in parents:
            node = node[key]
        assert last in node, op["path"]  # replace needs an existing field
        node[last] = op["value"]


def _built(directory: Path) -> list[dict[str, Any]]:
    """The overlay's objects: its resources with its patches applied (the delete and JSON
    6902 forms the GPU overlay uses)."""
    objects = copy.deepcopy(_resources(directory))
    for patch in _kustomization(directory).get("patches", []):
        target, body = patch["target"], yaml.safe_load(patch["patch"])
        [obj] = [o for o in objects if _matches(o, target)]
        if isinstance(body, dict) and body.get("$patch") == "delete":
            objects.remove(obj)
        else:
            _json_patch(obj, body)
    return objects


def _one(objects: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    [found] = [o for o in objects if o["kind"] == kind and o["metadata"]["name"] == name]
    return found


def test_the_gpu_deployment_is_valid_for_kubernetes() -> None:
    [deployment] = load_yaml(GPU / "deployment-gpu.yaml")
    kubernetes_validate.validate(deployment, KUBERNETES_VERSION, strict=True)


def test_the_overlay_replaces_the_cpu_pool_and_keda_scales_the_gpu_one() -> None:
    objects = _built(GPU)
    deployments = [o["metadata"]["name"] for o in objects if o["kind"] == "Deployment"]
    assert sorted(deployments) == ["moodstream-gpu", "moodstream-lag"]
    scaled = _one(objects, "ScaledObject", "moodstream")
    assert scaled["spec"]["scaleTargetRef"]["name"] == "moodstream-gpu"
    gpu = _one(objects, "Deployment", "moodstream-gpu")
    args = gpu["spec"]["template"]["spec"]["containers"][0]["args"]
    workers = int(args[args.index("--workers") + 1])
    assert scaled["spec"]["maxReplicaCount"] * workers == PARTITIONS  # no idle consumer
    labels = gpu["spec"]["template"]["metadata"]["labels"]
    assert gpu["spec"]["selector"]["matchLabels"].items() <= labels.items()
    for kind, name, path in (
        ("PodDisruptionBudget", "moodstream", ("spec", "selector", "matchLabels")),
        ("Service", "moodstream-metrics", ("spec", "selector")),
    ):
        selector: dict[str, str] = _one(objects, kind, name)
        for key in path:
            selector = selector[key]  # type: ignore[assignment]
        assert selector.items() <= labels.items(), f"{kind} {name} would miss the GPU pods"
    image = gpu["spec"]["template"]["spec"]["containers"][0]["image"]
    assert image in {i["name"] for i in _kustomization(GPU)["images"]}


def test_the_gpu_pod_asks_for_a_gpu_node_and_one_gpu_and_runs_pat_there(
    clean_env: pytest.MonkeyPatch,
) -> None:
    [deployment] = load_yaml(GPU / "deployment-gpu.yaml")
    pod = deployment["spec"]["template"]["spec"]
    [container] = pod["containers"]
    assert pod["nodeSelector"] == {"nvidia.com/gpu.present": "true"}
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in pod[
        "tolerations"
    ]
    assert container["resources"]["limits"]["nvidia.com/gpu"] == 1
    [configmap] = [o for o in _resources(K8S) if o["kind"] == "ConfigMap"]
    for key, value in configmap["data"].items():
        clean_env.setenv(key, value)
    for entry in container["env"]:
        if entry["name"].endswith("_FILE"):  # a mounted Secret's file: only the pod has it
            clean_env.setenv(entry["name"].removesuffix("_FILE"), "from-a-secret")
        elif "value" in entry and not entry["name"].endswith("SSL_CA_LOCATION"):
            clean_env.setenv(entry["name"], entry["value"])  # not the CA file, the pod's name
    models = Settings().models
    assert (models.pat_device, models.pat_runtime, models.pat_precision) == ("cuda", "auto", "bf16")


def test_the_gpu_pod_differs_from_the_cpu_pod_only_where_a_gpu_needs_it() -> None:
    [cpu] = [o for o in load_yaml(K8S / "deployment.yaml") if o["kind"] == "Deployment"]
    [gpu] = load_yaml(GPU / "deployment-gpu.yaml")

    def without_gpu_parts(deployment: dict[str, Any]) -> dict[str, Any]:
        d = copy.deepcopy(deployment)
        d["metadata"].pop("name")
        for labels in (
            d["metadata"]["labels"],
            d["spec"]["selector"]["matchLabels"],
            d["spec"]["template"]["metadata"]["labels"],
        ):
            labels.pop("app.kubernetes.io/component", None)
        pod = d["spec"]["template"]["spec"]
        pod.pop("nodeSelector", None)
        pod.pop("tolerations", None)
        [container] = pod["containers"]
        for key in ("image", "args", "resources"):
            container.pop(key)
        container["env"] = [e for e in container["env"] if "__PAT_" not in e["name"]]
        for volume in pod["volumes"]:
            volume.get("emptyDir", {}).pop("sizeLimit", None)
        return d

    assert without_gpu_parts(gpu) == without_gpu_parts(cpu)
