"""The Prometheus Operator resources (monitoring.coreos.com/v1, API reference of
prometheus-operator 0.7x: "ServiceMonitorSpec", "Endpoint", "RelabelConfig",
"PrometheusRuleSpec"): the ServiceMonitor of each deployment uses documented fields only
and puts on every series the labels the rules group by; the PrometheusRule of
deploy/k8s/monitoring is the rule files the compose stack loads (generated, promtool-
checked); every alert has a runbook that says what it means, how to check, what to do."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.prometheus_tools import run_tool
from tests.unit.deploy.render import (
    K8S,
    PROMETHEUS_RULE,
    ROOT,
    build,
    prometheus_rule_text,
    rule_groups,
)

SERVICE_MONITOR_SPEC = {
    "jobLabel", "targetLabels", "podTargetLabels", "endpoints", "selector",
    "namespaceSelector", "sampleLimit", "targetLimit", "labelLimit", "labelNameLengthLimit",
    "labelValueLengthLimit", "keepDroppedTargets", "attachMetadata", "bodySizeLimit",
    "scrapeProtocols", "scrapeClass",
}  # fmt: skip
ENDPOINT = {
    "port", "targetPort", "path", "scheme", "params", "interval", "scrapeTimeout",
    "tlsConfig", "bearerTokenFile", "bearerTokenSecret", "authorization", "honorLabels",
    "honorTimestamps", "trackTimestampsStaleness", "basicAuth", "oauth2",
    "metricRelabelings", "relabelings", "proxyUrl", "followRedirects", "enableHttp2",
    "filterRunning",
}  # fmt: skip
RELABEL = {"sourceLabels", "separator", "targetLabel", "regex", "modulus", "replacement", "action"}
RUNBOOK_SECTIONS = ("## What it means", "## How to check", "## What to do")


def _service_monitor() -> dict[str, Any]:
    [found] = yaml.safe_load_all((K8S / "base" / "servicemonitor.yaml").read_text())
    monitor: dict[str, Any] = found
    return monitor


def _alerts() -> list[dict[str, Any]]:
    return [r for g in rule_groups() for r in g["rules"] if "alert" in r]


def test_the_service_monitor_uses_documented_fields_and_finds_both_services() -> None:
    monitor = _service_monitor()
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    spec = monitor["spec"]
    assert set(spec) <= SERVICE_MONITOR_SPEC
    [endpoint] = spec["endpoints"]
    assert set(endpoint) <= ENDPOINT
    assert all(set(r) <= RELABEL for r in endpoint["relabelings"])
    services = [o for o in build(K8S / "base") if o["kind"] == "Service"]
    [selector] = spec["selector"]["matchExpressions"]
    assert selector["operator"] == "In"
    selected = [
        s for s in services if s["metadata"]["labels"][selector["key"]] in selector["values"]
    ]
    assert len(selected) == len(services) == 3  # scoring, windows, lag exporter
    for service in selected:  # the named port exists on each Service
        assert endpoint["port"] in {p["name"] for p in service["spec"]["ports"]}


def _relabel(service_labels: dict[str, str], relabelings: list[dict[str, Any]]) -> dict[str, str]:
    """Prometheus' `replace` relabeling (the default action) over a target's labels."""
    labels = {
        "__meta_kubernetes_service_label_" + re.sub(r"[^a-zA-Z0-9_]", "_", k): v
        for k, v in service_labels.items()
    }
    for rule in relabelings:
        assert rule.get("action", "replace") == "replace"
        value = rule.get("separator", ";").join(labels.get(s, "") for s in rule["sourceLabels"])
        match = re.fullmatch(rule.get("regex", "(.*)"), value)
        if match:
            labels[rule["targetLabel"]] = match.expand(
                rule.get("replacement", "$1").replace("$1", r"\g<1>")
            )
    return {k: v for k, v in labels.items() if not k.startswith("__")}


@pytest.mark.parametrize("overlay", ["base", "overlays/team-a"])
def test_every_series_gets_the_labels_the_rules_group_by(overlay: str) -> None:
    relabelings = _service_monitor()["spec"]["endpoints"][0]["relabelings"]
    services = {o["metadata"]["name"]: o for o in build(K8S / overlay) if o["kind"] == "Service"}
    consumer = _relabel(services["moodstream-metrics"]["metadata"]["labels"], relabelings)
    lag = _relabel(services["moodstream-lag-metrics"]["metadata"]["labels"], relabelings)
    windows = _relabel(services["moodstream-windows-metrics"]["metadata"]["labels"], relabelings)
    assert consumer["component"] == "consumer" and lag["component"] == "lag-exporter"
    assert windows["component"] == "windows"  # not counted by rules on component="consumer"
    expected = "moodstream" if overlay == "base" else "team-a"
    assert consumer["deployment"] == lag["deployment"] == windows["deployment"] == expected
    rules = " ".join(r["expr"] for g in rule_groups() for r in g["rules"])
    assert 'component="consumer"' in rules and 'component="lag-exporter"' in rules
    assert "job=" not in rules  # no rule depends on what the scrape job is called


def test_every_aggregation_of_the_rules_keeps_deployments_apart() -> None:
    """A `sum`/`max`/`group` of the rules without namespace and deployment would add two
    deployments together (or hide a dead one behind a live one)."""
    exprs = [r["expr"] for g in rule_groups() for r in g["rules"]]
    aggregations = [
        (m.group(0), {label.strip() for label in m.group(1).split(",")})
        for expr in exprs
        for m in re.finditer(r"\b(?:sum|max|min|avg|group|count) by \(([^)]*)\)", expr)
    ]
    assert len(aggregations) >= 10
    for text, labels in aggregations:
        assert {"namespace", "deployment"} <= labels, text
    without_by = [e for e in exprs if re.search(r"\b(?:sum|max|min|avg|group|count) ?\(", e)]
    assert without_by == []  # every aggregation names what it keeps
    matching = re.findall(r"\b(?:on|ignoring) \(([^)]*)\)", " ".join(exprs))
    assert matching and all(
        set(m.replace(" ", "").split(",")) == {"namespace", "deployment"} for m in matching
    )


def test_the_prometheus_rule_is_the_deployed_rule_files() -> None:
    text = PROMETHEUS_RULE.read_text(encoding="utf-8")
    assert text == prometheus_rule_text(), (
        "deploy/k8s/monitoring/prometheusrule.yaml is stale: python -m tests.unit.deploy.render"
    )
    [rule] = build(K8S / "monitoring")
    assert rule["kind"] == "PrometheusRule" and rule["apiVersion"] == "monitoring.coreos.com/v1"
    assert set(rule["spec"]) == {"groups"}
    assert rule["spec"]["groups"] == rule_groups()


def test_promtool_accepts_the_prometheus_rules_groups(tmp_path: Path) -> None:
    [rule] = build(K8S / "monitoring")
    path = tmp_path / "rules.yml"
    path.write_text(yaml.safe_dump({"groups": rule["spec"]["groups"]}), encoding="utf-8")
    result = run_tool("promtool", "check", "rules", str(path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {sum(len(g['rules']) for g in rule_groups())} rules found" in result.stdout


def test_every_alert_has_a_runbook() -> None:
    alerts = _alerts()
    assert len(alerts) >= 15
    for alert in alerts:
        url = alert["annotations"]["runbook_url"]
        assert url == f"docs/runbooks/{alert['alert']}.md"
        text = (ROOT / url).read_text(encoding="utf-8")
        assert text.startswith(f"# {alert['alert']}\n")
        positions = [text.index(section) for section in RUNBOOK_SECTIONS]
        assert positions == sorted(positions), alert["alert"]
        assert f"Severity: {alert['labels']['severity']}." in text
    pages = {p.stem for p in (ROOT / "docs" / "runbooks").glob("*.md")} - {"README"}
    assert pages == {a["alert"] for a in alerts}  # no page for an alert that is gone
    index = (ROOT / "docs" / "runbooks" / "README.md").read_text(encoding="utf-8")
    assert all(f"]({a['alert']}.md)" in index for a in alerts)
