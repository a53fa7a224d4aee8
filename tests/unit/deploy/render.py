"""deploy/k8s as a platform team applies it: the kustomizations built by a real kustomize,
and the PrometheusRule (deploy/k8s/monitoring) generated from deploy/prometheus's rule files.

kustomize is ``kustomize`` on PATH, else ``~/.cache/moodstream/bin/kustomize`` (where
``make tools`` builds it from the Go module proxy), else ``kubectl kustomize``. Without any
of them a test is skipped, and under ``CI=true`` it fails: CI never passes by not checking.

``python -m tests.unit.deploy.render`` rewrites deploy/k8s/monitoring/prometheusrule.yaml
after a change to deploy/prometheus/{recording,alerts}.yml (a test checks they agree).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[3]
K8S = ROOT / "deploy" / "k8s"
PROMETHEUS = ROOT / "deploy" / "prometheus"
RULE_FILES = ("recording.yml", "alerts.yml")
PROMETHEUS_RULE = K8S / "monitoring" / "prometheusrule.yaml"
CACHED_KUSTOMIZE = Path.home() / ".cache" / "moodstream" / "bin" / "kustomize"
INSTALL_HINT = "run `make tools` (go install sigs.k8s.io/kustomize/kustomize/v5) or put it on PATH"


def kustomize_command() -> list[str]:
    """The command that builds a kustomization (its directory appended); skips the test
    (fails it under ``CI=true``) when there is none."""
    found = shutil.which("kustomize")
    if found is not None:
        return [found, "build"]
    if os.access(CACHED_KUSTOMIZE, os.X_OK):
        return [str(CACHED_KUSTOMIZE), "build"]
    kubectl = shutil.which("kubectl")
    if kubectl is not None:
        return [kubectl, "kustomize"]
    message = f"kustomize not found: {INSTALL_HINT}"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


def build(directory: Path) -> list[dict[str, Any]]:
    """The objects ``kustomize build directory`` renders. Blocks up to 120 s; a failed
    build fails the test with kustomize's message."""
    done = subprocess.run(
        [*kustomize_command(), str(directory)],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return [doc for doc in yaml.safe_load_all(done.stdout) if doc]


def rule_groups() -> list[dict[str, Any]]:
    """The rule groups of deploy/prometheus's rule files, in load order."""
    groups: list[dict[str, Any]] = []
    for name in RULE_FILES:
        groups += yaml.safe_load((PROMETHEUS / name).read_text(encoding="utf-8"))["groups"]
    return groups


HEADER = """\
# GENERATED from deploy/prometheus/recording.yml and alerts.yml (the compose stack loads
# those): python -m tests.unit.deploy.render rewrites it, and a test checks the two agree.
# Applied ONCE per Prometheus (deploy/k8s/monitoring), not per deployment: the rules group
# by namespace and deployment, so one set serves every deployment of moodstream.
"""


def prometheus_rule_text() -> str:
    """The PrometheusRule wrapping :func:`rule_groups`. Pure but for reading the files."""
    rule = {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": {"name": "moodstream", "labels": {"app.kubernetes.io/name": "moodstream"}},
        "spec": {"groups": rule_groups()},
    }
    return HEADER + str(yaml.safe_dump(rule, sort_keys=False, width=100))


if __name__ == "__main__":
    PROMETHEUS_RULE.write_text(prometheus_rule_text(), encoding="utf-8")
    print(f"wrote {PROMETHEUS_RULE.relative_to(ROOT)}")
