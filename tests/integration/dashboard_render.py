"""Draw Grafana dashboard panels from Prometheus range-query results to a PNG (matplotlib).

Not Grafana: one line per series, the panel's title, its legend format applied, the unit
named on the y axis. Enough for a person to see what the panels would show for a run.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

_LEGEND_VAR = re.compile(r"\{\{\s*(\w+)\s*\}\}")


@dataclass
class PanelData:
    """One panel: its title, unit and, per target, the legend format and the series."""

    title: str
    unit: str
    series: list[tuple[str, list[float], list[float]]] = field(default_factory=list)

    def add(self, legend_format: str, result: list[dict[str, Any]], t0: float) -> None:
        """Add a range-query ``result`` (Prometheus matrix), times relative to ``t0``."""
        for item in result:
            name = legend(legend_format, item["metric"])
            times = [float(t) - t0 for t, _ in item["values"]]
            values = [float(v) for _, v in item["values"]]
            self.series.append((name or str(item["metric"]), times, values))


def legend(legend_format: str, labels: dict[str, str]) -> str:
    """Grafana's ``{{label}}`` substitution (a missing label gives "")."""
    return _LEGEND_VAR.sub(lambda m: labels.get(m.group(1), ""), legend_format)


def render(panels: list[PanelData], path: Path, title: str, columns: int = 2) -> None:
    """Write the panels in a grid to ``path`` (PNG). Blocks; raises OSError on write."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = (len(panels) + columns - 1) // columns
    fig, axes = plt.subplots(rows, columns, figsize=(7 * columns, 3.2 * rows), squeeze=False)
    for ax, panel in zip(axes.flat, panels, strict=False):
        for name, times, values in panel.series:
            ax.plot(times, values, label=name, linewidth=1.2)
        ax.set_title(panel.title, fontsize=10, loc="left")
        ax.set_ylabel(panel.unit, fontsize=8)
        ax.set_xlabel("seconds since the service started", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
        if panel.series:
            ax.legend(fontsize=6, ncol=2, loc="upper left", frameon=False)
    for ax in list(axes.flat)[len(panels) :]:
        ax.axis("off")
    fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
