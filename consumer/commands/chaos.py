"""``moodstream chaos``: the fault suite on the local three-node cluster, and its table.

Starts the cluster when it is not up (and stops it again at the end), then runs the
faults for each guarantee and group protocol asked for, and prints one row per fault:
events, lost, duplicates, longest gap in predictions, recovery time. Exit 0 when every
run passed (nothing lost; no duplicates under exactly-once; the service still running),
1 otherwise. ``--json`` prints the results as JSON on stdout (the table on stderr), ``--out
PATH`` writes them to a file (the old ``--json PATH`` still does, for one release).
Blocks for minutes (about 6-8 per run of the full suite on 2 cores).
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

from consumer.chaos import faults, network_faults, report
from consumer.chaos.suite import RunConfig, RunResult, run_suite
from consumer.commands.conventions import add_json_and_out, json_and_out
from consumer.errors import ConfigError
from consumer.localkafka.cluster import LocalCluster
from consumer.settings import Guarantee, Settings
from consumer.settings_client import LIBRDKAFKA_DEFAULTS_ENV

QUICK = faults.Durations(
    down_s=4.0,
    pause_s=12.0,
    two_down_s=10.0,
    partition_s=12.0,
    latency_s=12.0,
    blackhole_s=12.0,
    reset_s=10.0,
    bandwidth_s=12.0,
    half_open_s=12.0,
)
#: ``--faults`` shorthands: every process fault, every network fault, both.
GROUPS = {
    "process": faults.FULL_SUITE,
    "network": network_faults.NETWORK_SUITE,
    "all": faults.FULL_SUITE + network_faults.NETWORK_SUITE,
}


def register(sub: Any) -> None:
    parser = sub.add_parser("chaos", help="broker faults against the local 3-node cluster")
    add_json_and_out(parser, "also write the results (JSON) here")
    parser.add_argument(
        "--guarantee", choices=("at_least_once", "exactly_once", "both"), default="both"
    )
    parser.add_argument(
        "--group-protocol", choices=("classic", "consumer", "both"), default="classic"
    )
    parser.add_argument(
        "--faults",
        default=None,
        help=f"comma-separated faults or groups ({', '.join(GROUPS)}) of "
        f"{', '.join(network_faults.ALL_FAULTS)} (default: process)",
    )
    parser.add_argument(
        "--fault-seconds",
        type=float,
        default=None,
        help="every network fault lasts this long (default: 30-60 s each, 12 with --quick)",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="the CI subset with short faults (leader kill, coordinator kill, "
        "rolling restart, pause, partition_leader, latency)",
    )
    parser.add_argument(
        "--rate", type=float, default=None, help="events per second (default 100; 40 with --quick)"
    )
    parser.add_argument("--log-dir", type=Path, default=Path("chaos-logs"))
    parser.add_argument(
        "--librdkafka-defaults",
        action="store_true",
        help="run the service with librdkafka's own timeouts instead of the tuned "
        "KAFKA__CLIENT__* defaults (to measure what the tuning changed)",
    )
    parser.add_argument(
        "--compare-groups",
        action="store_true",
        help="instead of the faults: time to first prediction and the longest gap when a "
        "worker joins, leaves, is killed, for the classic and the KIP-848 group protocol",
    )
    parser.set_defaults(handler=handle)


def _note(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _plan(args: argparse.Namespace) -> list[RunConfig]:
    names = _fault_names(args)
    durations = _durations(args)
    guarantees = list(Guarantee) if args.guarantee == "both" else [Guarantee(args.guarantee)]
    protocols = ["classic", "consumer"] if args.group_protocol == "both" else [args.group_protocol]
    rate = args.rate or (40.0 if args.quick else 100.0)
    return [
        RunConfig(
            guarantee=g,
            group_protocol=p,
            rate_per_s=rate,
            log_dir=args.log_dir,
            durations=durations,
            service_overrides=tuple(LIBRDKAFKA_DEFAULTS_ENV.items())
            if args.librdkafka_defaults
            else (),
            client_defaults="librdkafka" if args.librdkafka_defaults else "tuned",
            faults=tuple(
                n for n in names if g is Guarantee.EXACTLY_ONCE or n not in faults.EXACTLY_ONCE_ONLY
            ),
        )
        for p in protocols
        for g in guarantees
    ]


def _fault_names(args: argparse.Namespace) -> tuple[str, ...]:
    if not args.faults:
        return network_faults.QUICK_SUITE if args.quick else faults.FULL_SUITE
    names: list[str] = []
    for item in args.faults.split(","):
        names.extend(GROUPS.get(item, (item,)))
    unknown = [n for n in names if n not in network_faults.ALL_FAULTS]
    if unknown:
        raise ConfigError(
            f"unknown fault(s) {', '.join(unknown)}: use {', '.join(GROUPS)} or "
            f"{', '.join(network_faults.ALL_FAULTS)}"
        )
    return tuple(dict.fromkeys(names))


def _durations(args: argparse.Namespace) -> faults.Durations:
    base = QUICK if args.quick else faults.Durations()
    if args.fault_seconds is None:
        return base
    if args.fault_seconds <= 0:
        raise ConfigError("--fault-seconds must be above 0")
    seconds = args.fault_seconds
    return replace(
        base,
        partition_s=seconds,
        latency_s=seconds,
        blackhole_s=seconds,
        reset_s=seconds,
        bandwidth_s=seconds,
        half_open_s=seconds,
    )


def handle(args: argparse.Namespace, settings: Settings) -> int:
    plans = _plan(args)
    args.json, args.out = json_and_out(args)
    cluster = LocalCluster(settings.broker, settings.cluster, progress=_note)
    started_here = not any(node.pid is not None for node in cluster.status())
    cluster.start()
    results: list[RunResult] = []
    try:
        if args.compare_groups:
            return _compare_groups(args, settings)
        for cfg in plans:
            cfg = RunConfig(**{**vars(cfg), "models_dir": settings.models.dir})
            results.append(run_suite(settings, cfg, _note))
            _note(report.table(results[-1:]))
    finally:
        if started_here:
            cluster.stop()
    _results(args, report.table(results), report.as_json(results))
    return 0 if all(report.passed(run) for run in results) else 1


def _results(args: argparse.Namespace, table: str, doc: Any) -> None:
    """The table (stderr under ``--json``, which prints ``doc`` on stdout); ``doc`` to
    ``--out`` when given."""
    print(table, file=sys.stderr if args.json else sys.stdout, flush=True)
    if args.json:
        print(json.dumps(doc, indent=2), flush=True)
    if args.out is not None:
        args.out.write_text(json.dumps(doc, indent=2) + "\n")


def _compare_groups(args: argparse.Namespace, settings: Settings) -> int:
    from dataclasses import asdict

    from consumer.chaos.rebalance import measure_protocol

    rows = [
        measure_protocol(
            settings, protocol, rate_per_s=args.rate or 60.0, log_dir=args.log_dir, progress=_note
        )
        for protocol in ("classic", "consumer")
    ]
    lines = [
        "| group protocol | run → first prediction (s) | ready → first (s) | join gap (s) "
        "| leave gap (s) | kill gap (s) | events | lost | duplicates |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r.group_protocol} | {r.run_to_first_prediction_s} "
            f"| {r.first_prediction_after_ready_s} | {r.join_gap_s} | {r.leave_gap_s} "
            f"| {r.kill_gap_s} | {r.events} | {r.lost} | {r.duplicates} |"
        )
    _results(args, "\n".join(lines), [asdict(r) for r in rows])
    return 0 if all(r.lost == 0 for r in rows) else 1
