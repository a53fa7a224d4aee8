"""``moodstream bench [--quick|--smoke] [--out PATH] [--json]``: limits, moodstream, baseline,
ratios. ``moodstream bench --peers [--rounds N] [--events N] [--out PATH] [--json]``: the
plain scoring job against Arroyo and Quix Streams (:mod:`consumer.bench.peers`).

Runs against the configured cluster (or the local broker) on fresh topics named
``bench.<run id>.*`` (deleted at the end), writes the JSON, a PNG and the services' logs
(``<name>-logs/``) beside it (``--out``, default ``bench-results/bench-<timestamp>.json``),
prints a summary table (``--json``: the results document on stdout, the table on stderr).
The old ``--json PATH`` still means ``--out PATH`` for one release. See BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from pathlib import Path
from typing import Any

from consumer.commands.conventions import add_json_and_out, json_and_out
from consumer.errors import ConfigError
from consumer.settings import SecurityProtocol, Settings


def register(sub: Any) -> None:
    parser = sub.add_parser("bench", help="benchmark throughput, latency and memory")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--quick", action="store_true", help="shorter run (under 3 min on 2 cores)")
    mode.add_argument(
        "--smoke",
        action="store_true",
        help="tiny run that only checks the machinery (1 worker, seconds per step)",
    )
    mode.add_argument(
        "--peers",
        action="store_true",
        help="the plain scoring job in moodstream, Arroyo and Quix Streams (own venvs)",
    )
    add_json_and_out(parser, "where to write the results (default bench-results/bench-<time>.json)")
    parser.add_argument("--rounds", type=int, default=None, help="--peers: rounds (default 3)")
    parser.add_argument(
        "--events", type=int, default=None, help="--peers: backlog events (default 40,000)"
    )
    parser.add_argument("--no-plot", action="store_true", help="skip the PNG")
    parser.add_argument(
        "--only",
        choices=["windows"],
        default=None,
        help="run one section alone (windows: the windows stage's, at the mode's plan)",
    )
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace, settings: Settings) -> int:
    """Blocks for the run. Raises MoodstreamError subclasses (no broker, a failed step)."""
    as_json, out = json_and_out(args)
    if out is not None and out.suffix != ".json":
        raise ConfigError("--out must name a .json file")
    if args.peers and args.only is not None:
        raise ConfigError("--only does not go with --peers")
    if args.peers:
        return _peers(args, settings, as_json, out)
    if args.rounds is not None or args.events is not None:
        raise ConfigError("--rounds and --events go with --peers")
    from consumer.bench.plan import PLANS

    plan = PLANS["smoke" if args.smoke else "quick" if args.quick else "full"]
    path = out or Path("bench-results") / f"bench-{time.strftime('%Y%m%d-%H%M%S')}.json"
    logs = path.with_name(path.stem + "-logs")
    if args.only == "windows":
        return _windows_only(settings, plan, path, logs, as_json)
    doc = _run(settings, plan, "moodstream " + shlex.join(sys.argv[1:]), logs)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    if not args.no_plot:
        from consumer.bench.plot import write_png

        write_png(doc, path.with_suffix(".png"))
    from consumer.bench.text import summary

    table = sys.stderr if as_json else sys.stdout
    print(summary(doc), file=table)
    png = "" if args.no_plot else f" (+ {path.with_suffix('.png').name})"
    print(f"\nresults: {path}{png}", file=table)
    if as_json:
        print(json.dumps(doc, indent=2))
    return 0


def _run(settings: Settings, plan: Any, command: str, logs: Path) -> dict[str, Any]:
    from consumer.bench.plan import print_progress
    from consumer.bench.suite import run_suite
    from consumer.commands import bootstrap_for
    from consumer.kafka.config import client_config

    bootstrap = bootstrap_for(settings)
    client = dict(client_config(settings.kafka, bootstrap))
    return run_suite(settings, bootstrap, client, plan, print_progress, command, logs)


def _windows_only(settings: Settings, plan: Any, path: Path, logs: Path, as_json: bool) -> int:
    """``--only windows``: the windows section alone (its JSON and Markdown table)."""
    from consumer.bench.plan import print_progress
    from consumer.bench.windows import run_windows_only
    from consumer.bench.windows_figures import windows_table
    from consumer.commands import bootstrap_for
    from consumer.kafka.config import client_config

    if plan.windows is None:
        raise ConfigError("this mode's plan has no windows section")
    bootstrap = bootstrap_for(settings)
    client = dict(client_config(settings.kafka, bootstrap))
    doc = run_windows_only(settings, bootstrap, client, plan.windows, print_progress, logs)
    doc["command"] = "moodstream " + shlex.join(sys.argv[1:])
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    table = sys.stderr if as_json else sys.stdout
    print(windows_table(doc) + f"\n\nresults: {path}", file=table)
    if as_json:
        print(json.dumps(doc, indent=2))
    return 0


def _peers(args: argparse.Namespace, settings: Settings, as_json: bool, out: Path | None) -> int:
    """Blocks for the run; 1 when the systems' outputs differ. Raises MoodstreamError."""
    from consumer.bench.peer_report import table_text
    from consumer.bench.peer_venv import default_root
    from consumer.bench.peers import run_peers
    from consumer.bench.plan import print_progress
    from consumer.commands import bootstrap_for
    from consumer.kafka.config import client_config

    if settings.kafka.security_protocol is not SecurityProtocol.PLAINTEXT:
        raise ConfigError("--peers gives the peer apps a PLAINTEXT bootstrap only")
    rounds = 3 if args.rounds is None else args.rounds
    events = 40_000 if args.events is None else args.events
    if rounds < 1 or events < 1:
        raise ConfigError("--rounds and --events must be at least 1")
    stamp = time.strftime("%Y%m%d-%H%M%S")
    path = out or Path("bench-results") / f"peers-{stamp}.json"
    bootstrap = bootstrap_for(settings)
    client = dict(client_config(settings.kafka, bootstrap))
    doc = run_peers(
        settings, bootstrap, client, rounds=rounds, events=events,
        peers_root=default_root(), log_dir=path.with_name(path.stem + "-logs"),
        progress=print_progress,
    )  # fmt: skip
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    table = sys.stderr if as_json else sys.stdout
    print(table_text(doc), file=table)
    print(f"\nresults: {path}", file=table)
    if as_json:
        print(json.dumps(doc, indent=2))
    if not doc["outputs_equal"]:
        print("outputs differ between systems (see the JSON's outputs)", file=sys.stderr)
        return 1
    return 0
