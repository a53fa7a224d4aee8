"""``moodstream bench --peers``: the plain scoring job in moodstream, Arroyo and Quix Streams.

Each round runs every system once, one process at a time, in a rotating order
(:func:`consumer.bench.peer_report.rotation`), on the same broker, each on a fresh
6-partition topic set holding the same features-only backlog, produced before the
system starts (:mod:`consumer.bench.peer_run`). The peers run in their own pinned venvs
(:mod:`consumer.bench.peer_venv`). Every system's outputs are compared with moodstream's
(the three probabilities of each event within 1e-9); a mismatch fails the run after the
figures are printed. After the rounds, ``rounds`` runs of
:func:`consumer.bench.engine_cost.measure` on the same backlog give the engine's own CPU
per event (the worker less its booster thread), against issue 25's goal. Blocks for the
whole run.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from consumer.bench.endtoend import BenchContext
from consumer.bench.engine_cost import measure
from consumer.bench.kafkaio import TopicRegistry
from consumer.bench.machine import load_average, machine_info
from consumer.bench.peer_backlog import backlog_records
from consumer.bench.peer_report import (
    compare_outputs,
    engine_own,
    medians,
    mismatched,
    ratios,
    rotation,
)
from consumer.bench.peer_run import Outputs, SystemRun, run_system
from consumer.bench.peer_venv import APPS, PEERS, ensure_env
from consumer.settings import Settings

OURS = "moodstream"
OUR_LABEL = "moodstream `run --workers 1`, defaults"


def run_peers(
    settings: Settings,
    bootstrap: str,
    client: dict[str, Any],
    *,
    rounds: int,
    events: int,
    peers_root: Path,
    log_dir: Path,
    progress: Callable[[str], None],
) -> dict[str, Any]:
    """Every round, every system; the JSON document (see BENCHMARKS.md, "Against the
    peers"). Raises BenchError when a system fails or a venv cannot be made."""
    systems, labels, envs = _systems(peers_root, events, progress)
    log_dir.mkdir(parents=True, exist_ok=True)
    machine = machine_info(None)
    registry = TopicRegistry(dict(client))
    ctx = BenchContext(settings, bootstrap, dict(client), registry, log_dir, progress)
    progress(f"backlog: {events} features-only events")
    records = backlog_records(events)
    runs: list[dict[str, Any]] = []
    outputs: list[tuple[str, Outputs]] = []
    try:
        for number, order in enumerate(rotation(list(systems), rounds), start=1):
            for system in order:
                progress(f"round {number}: {system}")
                result, found = run_system(ctx, systems[system], records, f"{system}-r{number}")
                runs.append({**result, "round": number})
                outputs.append((f"{system}-r{number}", found))
                progress(f"  {result['events_per_s']} events/s, {result['events_per_cpu_s']}/CPU-s")
    finally:
        registry.delete_all()
    costs = []
    for number in range(1, rounds + 1):
        progress(f"engine's own cost, run {number}")
        costs.append(measure(settings, bootstrap, events, log_dir / "engine-cost"))
        progress(f"  {costs[-1]['own_us']} µs an event")
    machine["load_avg_end"] = load_average()
    doc = _document(runs, outputs, labels, envs, machine, rounds, events)
    return {"run_id": registry.run_id, **doc, "engine_own": engine_own(costs)}


def _systems(
    root: Path, events: int, progress: Callable[[str], None]
) -> tuple[dict[str, SystemRun], dict[str, str], dict[str, Any]]:
    timeout = 120.0 + events / 100.0
    systems = {OURS: SystemRun(OURS, None, timeout)}
    labels = {OURS: OUR_LABEL}
    envs: dict[str, Any] = {}
    for peer in PEERS:
        progress(f"{peer.name}: its venv under {root / peer.name}")
        env = ensure_env(peer, root)
        if env.created_s is not None:
            progress(f"  created in {env.created_s} s")
        command = (str(env.python), str(APPS / peer.app))
        systems[peer.name] = SystemRun(peer.name, command, timeout)
        labels[peer.name] = peer.label
        envs[peer.name] = {
            "python": str(env.python),
            "created_s": env.created_s,
            "pins": list(peer.requirements()),
            "freeze": list(env.freeze),
        }
    return systems, labels, envs


def _document(
    runs: list[dict[str, Any]],
    outputs: list[tuple[str, Outputs]],
    labels: dict[str, str],
    envs: dict[str, Any],
    machine: dict[str, Any],
    rounds: int,
    events: int,
) -> dict[str, Any]:
    table = {s: medians([r for r in runs if r["system"] == s]) for s in labels}
    name, first = next((n, o) for n, o in outputs if n.startswith(f"{OURS}-"))
    comparisons = {
        n: compare_outputs(first.scores, found.scores) for n, found in outputs if n != name
    }
    return {
        "command": "moodstream " + " ".join(sys.argv[1:]),
        "events": events,
        "rounds": rounds,
        "labels": labels,
        "runs": runs,
        "medians": table,
        "ratios": ratios(table, OURS),
        "outputs": {"reference": name, "compared": comparisons},
        "outputs_equal": not any(mismatched(c) for c in comparisons.values()),
        "peer_envs": envs,
        "machine": machine,
    }
