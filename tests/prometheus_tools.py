"""The Prometheus binaries (``prometheus``, ``promtool``) for the tests that need them.

They come from the Debian package ``prometheus`` (2.42), which ``make tools`` installs
where it is missing (``.ci/run`` calls it before ``make test``). Without them the tests
are skipped, and under ``CI=true`` they fail: CI never passes by not checking.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DEPLOY_PROMETHEUS = REPO / "deploy" / "prometheus"
RULE_TESTS_DIR = DEPLOY_PROMETHEUS / "tests"
INSTALL_HINT = "run `make tools` (apt-get install prometheus) or put it on PATH"


def binary(name: str) -> str:
    """Path of ``name`` on PATH; skips the test (fails it under ``CI=true``) when absent."""
    found = shutil.which(name)
    if found is not None:
        return found
    message = f"{name} not found: {INSTALL_HINT}"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


def run_tool(
    *args: str, cwd: Path = REPO, timeout_s: float = 60
) -> subprocess.CompletedProcess[str]:
    """Run a Prometheus tool (``args[0]`` a name on PATH); never raises on a non-zero exit."""
    return subprocess.run(
        [binary(args[0]), *args[1:]],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
    )
