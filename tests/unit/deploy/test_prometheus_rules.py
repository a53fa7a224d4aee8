"""promtool on the Prometheus files as deployed, and the rule unit tests.

- ``promtool check rules`` / ``check config`` on ``deploy/prometheus`` laid out as
  docker-compose mounts it;
- ``promtool test rules`` on every ``deploy/prometheus/tests/*_test.yml`` (add a file
  there and it runs here);
- every alert of every rule file has a firing case and a silent case in those files.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.prometheus_tools import (
    DEPLOY_PROMETHEUS,
    REPO,
    RULE_TESTS_DIR,
    run_tool,
    signal_queries,
)

RULE_TEST_FILES = sorted(RULE_TESTS_DIR.glob("*_test.yml"))
CONFIG = DEPLOY_PROMETHEUS / "prometheus.yml"


def rule_files() -> list[Path]:
    """The rule files the deployed config loads (relative to the config file)."""
    config = yaml.safe_load(CONFIG.read_text(encoding="utf-8"))
    return [CONFIG.parent / name for name in config["rule_files"]]


def alert_names(path: Path) -> set[str]:
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    return {r["alert"] for g in doc["groups"] for r in g["rules"] if "alert" in r}


def rule_test_cases() -> list[dict[str, Any]]:
    cases: list[dict[str, Any]] = []
    for path in RULE_TEST_FILES:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        for test in doc["tests"]:
            cases.extend(test.get("alert_rule_test", []))
    return cases


def test_rule_test_files_exist() -> None:
    assert RULE_TEST_FILES, f"no *_test.yml in {RULE_TESTS_DIR}"


@pytest.mark.parametrize("path", RULE_TEST_FILES, ids=lambda p: p.name)
def test_promtool_test_rules(path: Path) -> None:
    result = run_tool("promtool", "test", "rules", path.name, cwd=path.parent)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_promtool_check_rules_on_every_rule_file() -> None:
    files = rule_files()
    present = {p for p in DEPLOY_PROMETHEUS.glob("*.yml") if p != CONFIG}
    assert set(files) == present, "a rule file in deploy/prometheus the config does not load"
    result = run_tool("promtool", "check", "rules", *map(str, files))
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("SUCCESS") == len(files)


def test_promtool_check_config_in_the_compose_layout(tmp_path: Path) -> None:
    """Mount the host directories where docker-compose mounts them, then check the config
    at the path Prometheus is started with: the rule files must resolve and pass too."""
    compose = yaml.safe_load((REPO / "deploy" / "docker-compose.yml").read_text())
    service = compose["services"]["prometheus"]
    root = tmp_path / "container"
    for volume in service["volumes"]:
        host, target = volume.split(":")[:2]
        shutil.copytree(REPO / "deploy" / host, root / target.lstrip("/"))
    [flag] = [c for c in service["command"] if c.startswith("--config.file=")]
    config = root / flag.split("=", 1)[1].lstrip("/")
    result = run_tool("promtool", "check", "config", str(config))
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert f"SUCCESS: {len(rule_files())} rule files found" in output
    for path in rule_files():
        assert f"{path.name}\n  SUCCESS" in output.replace(str(config.parent) + "/", "")


def test_every_alert_has_a_firing_and_a_silent_case() -> None:
    alerts = set().union(*(alert_names(p) for p in rule_files()))
    cases = rule_test_cases()
    firing = {c["alertname"] for c in cases if c.get("exp_alerts")}
    silent = {c["alertname"] for c in cases if not c.get("exp_alerts")}
    assert alerts, "no alerts found"
    assert alerts - firing == set(), "alerts never shown to fire"
    assert alerts - silent == set(), "alerts never shown to stay silent"
    assert (firing | silent) - alerts == set(), "tests name alerts that do not exist"


@pytest.mark.parametrize(
    ("expr", "operands"),
    [
        ("moodstream:model_timeouts:rate5m > 0", ["moodstream:model_timeouts:rate5m"]),
        (
            "sum by (topic) (deriv(lag[10m])) > 0\nand moodstream:consumer_lag:sum > 100",
            ["sum by (topic) (deriv(lag[10m]))", "moodstream:consumer_lag:sum"],
        ),
        ('absent(up{job="moodstream"} == 1)', ['up{job="moodstream"}']),
        ('up{job="a>b"} == 0 or absent_over_time(x[5m])', ['up{job="a>b"}', "x"]),
        (
            "histogram_quantile(0.99, rate(h[5m]) > 0)",
            ["histogram_quantile(0.99, rate(h[5m]) > 0)"],
        ),
        (
            'sum by (g) (lag) > 0\nunless on () (up{job="m"} == 1)',
            ["sum by (g) (lag)", 'up{job="m"}'],
        ),
        ("(a) > (b)", ["a"]),
    ],
)
def test_signal_queries_strip_the_comparison(expr: str, operands: list[str]) -> None:
    """What the live test queries for each alert: the compared series, not the verdict."""
    assert signal_queries(expr) == operands
