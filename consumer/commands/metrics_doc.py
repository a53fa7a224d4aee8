"""The metrics reference of ``docs/metrics.md``, generated from the metrics the code registers.

Builds the service's :class:`~consumer.observability.metrics.Metrics`, the windows
stage's :class:`~consumer.windows_stage.metrics.WindowsMetrics` and the lag exporter's
:class:`~consumer.observability.lag_exporter.LagGauges` on fresh registries
(never the global one) and lists every series: the name Prometheus scrapes (a counter's
``_total``), its type, its labels and its help text. ``prometheus_client`` is imported
inside the functions, as everywhere in the package.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

HEADER = "| series | type | labels | what it counts | served by |\n|---|---|---|---|---|"
SERVICE = "`moodstream run` (`/metrics`)"
EXPORTER = "`moodstream lag --serve`"
WINDOWS = "`moodstream run --stage windows` (`/metrics`)"


@dataclass(frozen=True)
class Series:
    """One metric family as scraped: ``name`` with a counter's ``_total``."""

    name: str
    type: str
    labels: tuple[str, ...]
    help: str
    served_by: str


def registered(registry: CollectorRegistry, served_by: str) -> list[Series]:
    """Every metric family registered on ``registry``, sorted by name. Pure (reads the
    registry's collectors; prometheus_client keeps label names only on the metric)."""
    from prometheus_client.metrics import MetricWrapperBase

    found = {}
    for collector in registry._collector_to_names:
        if not isinstance(collector, MetricWrapperBase):
            continue
        kind = str(collector._type)
        name = collector._name + ("_total" if kind == "counter" else "")
        labels = tuple(collector._labelnames)
        found[name] = Series(name, kind, labels, collector._documentation, served_by)
    return [found[name] for name in sorted(found)]


def all_series() -> list[Series]:
    """The service's, the windows stage's and the lag exporter's series, each built on a
    fresh registry. Does not block; raises nothing in a healthy install."""
    from prometheus_client import CollectorRegistry

    from consumer.observability.lag_exporter import LagGauges
    from consumer.observability.metrics import Metrics
    from consumer.windows_stage.metrics import WindowsMetrics

    service = CollectorRegistry()
    Metrics(service, models=("depression", "hypomania", "mania", "pat"))
    windows = CollectorRegistry()
    WindowsMetrics(windows)
    exporter = CollectorRegistry()
    LagGauges(exporter)
    return (
        registered(service, SERVICE) + registered(windows, WINDOWS) + registered(exporter, EXPORTER)
    )


def row(series: Series) -> str:
    """One Markdown table row for ``series``. Pure."""
    labels = ", ".join(f"`{label}`" for label in series.labels) or "-"
    text = " ".join(series.help.replace("|", "\\|").split())
    return f"| `{series.name}` | {series.type} | {labels} | {text} | {series.served_by} |"


def metrics_table() -> str:
    """The generated table of every series, newline-terminated."""
    return HEADER + "\n" + "\n".join(row(s) for s in all_series()) + "\n"
