"""The benchmark's PNG: throughput bars, latency percentiles and memory, from the JSON.

Uses matplotlib's Agg backend (no display). Blocking (renders and writes one file).
Raises ImportError when matplotlib is not installed (the ``bench`` extra).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from consumer.bench.report import LOADS, WORKLOADS


def write_png(doc: dict[str, Any], path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(18, 5.5))
    _throughput(axes[0], doc)
    _latency(axes[1], doc)
    _memory(axes[2], doc)
    machine = doc.get("machine", {})
    fig.suptitle(
        f"moodstream bench ({doc.get('mode')}) - {machine.get('cores')} cores, "
        f"{machine.get('cpu_model')}, load {machine.get('load_avg_start')} -> "
        f"{machine.get('load_avg_end')}",
        fontsize=10,
    )
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def _bars(doc: dict[str, Any], workload: str) -> list[tuple[str, float | None]]:
    stages = doc["limits"]["per_workload"][workload]["stages"]
    bars: list[tuple[str, float | None]] = [
        (f"limit: {name}", value) for name, value in stages.items() if value is not None
    ]
    for key, run in sorted(doc["moodstream"].get(workload, {}).items()):
        bars.append((f"moodstream {key.replace('_', ' ')}", run.get("sustained_events_per_s")))
    bars.append(("baseline", doc["baseline"][workload].get("events_per_s")))
    return bars


def _throughput(ax: Any, doc: dict[str, Any]) -> None:
    labels: list[str] = []
    values: list[float] = []
    colors: list[str] = []
    for index, workload in enumerate(WORKLOADS):
        for label, value in _bars(doc, workload):
            labels.append(f"{workload}\n{label}")
            values.append(value or 0.0)
            colors.append(
                (
                    "tab:gray"
                    if label.startswith("limit")
                    else "tab:red"
                    if label == "baseline"
                    else "tab:blue"
                )
                if index == 0
                else (
                    "silver"
                    if label.startswith("limit")
                    else "salmon"
                    if label == "baseline"
                    else "lightskyblue"
                )
            )
    ax.barh(range(len(values)), values, color=colors)
    ax.set_yticks(range(len(values)), labels, fontsize=6)
    ax.set_xscale("log")
    ax.invert_yaxis()
    ax.set_xlabel("events/s (log)")
    ax.set_title("Throughput: limits, moodstream, baseline")
    for y, value in enumerate(values):
        ax.text(value, y, f" {value:,.0f}", va="center", fontsize=6)


def _latency(ax: Any, doc: dict[str, Any]) -> None:
    names: list[str] = []
    p50: list[float] = []
    p99: list[float] = []
    for workload in WORKLOADS:
        for key, run in sorted(doc["moodstream"].get(workload, {}).items()):
            for load in LOADS:
                figures = run.get("latency", {}).get(load)
                if figures and figures.get("p50_ms") is not None:
                    names.append(f"{workload} {key.replace('workers_', 'w')} {load[5:]}%")
                    p50.append(figures["p50_ms"])
                    p99.append(figures["p99_ms"])
    positions = range(len(names))
    ax.bar([p - 0.2 for p in positions], p50, width=0.4, label="p50")
    ax.bar([p + 0.2 for p in positions], p99, width=0.4, label="p99")
    ax.set_xticks(list(positions), names, rotation=60, ha="right", fontsize=7)
    ax.set_yscale("log")
    ax.axhline(100, color="tab:blue", linestyle=":", linewidth=1, label="p99 target, features")
    ax.axhline(300, color="tab:orange", linestyle=":", linewidth=1, label="p99 target, mixed")
    ax.set_ylabel("ms (log), input CreateTime -> prediction LogAppendTime")
    ax.set_title("Latency at 50% and 90% of the sustained rate")
    ax.legend(fontsize=8)


def _memory(ax: Any, doc: dict[str, Any]) -> None:
    keys = sorted(
        (k for k in doc.get("memory", {}) if re.fullmatch(r"workers_\d+", k)),
        key=lambda k: int(k.split("_")[1]),
    )
    for x, key in enumerate(keys):
        memory = doc["memory"][key]
        bottom = memory.get("supervisor_pss_mb") or 0.0
        ax.bar(x, bottom, color="tab:gray", label="supervisor" if x == 0 else None)
        for index, pss in enumerate(memory.get("workers_pss_mb") or []):
            ax.bar(
                x,
                pss or 0.0,
                bottom=bottom,
                color="tab:blue",
                edgecolor="white",
                label="workers" if x == 0 and index == 0 else None,
            )
            bottom += pss or 0.0
        ax.text(x, bottom, f"{bottom:.0f} MB", ha="center", va="bottom", fontsize=8)
    ax.set_xticks(range(len(keys)), [k.replace("workers_", "") + " workers" for k in keys])
    ax.axhline(700, color="tab:red", linestyle="--", linewidth=1, label="target, 4 workers")
    ax.set_ylabel("PSS, MB")
    ax.set_ylim(0, max(800.0, ax.get_ylim()[1] * 1.1))
    ax.set_title("Memory (PSS, supervisor + workers)")
    ax.legend(loc="upper left", fontsize=8)
