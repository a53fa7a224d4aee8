"""``moodstream bench [--quick|--smoke] [--json PATH]``: limits, moodstream, baseline, ratios.
``moodstream bench --peers [--rounds N] [--events N] [--json [PATH]]``: the plain scoring
job against Arroyo and Quix Streams (:mod:`consumer.bench.peers`).

Runs against the configured cluster (or the local broker) on fresh topics named
``bench.<run id>.*`` (deleted at the end), writes the JSON, a PNG and the services' logs
(``<name>-logs/``) beside it (default ``bench-results/bench-<timestamp>.json``), prints a
summary table. See BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from pathlib import Path
from typing import Any

from consumer.errors import ConfigError
from consumer.settings import SecurityProtocol, Settings

#: ``--json`` given without a PATH.
PRINT_JSON = Path("-")


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
    parser.add_argument(
        "--json",
        type=Path,
        nargs="?",
        const=PRINT_JSON,
        default=None,
        metavar="PATH",
        help="where to write the results (default bench-results/bench-<time>.json); "
        "with --peers and no PATH: also print the whole JSON",
    )
    parser.add_argument("--rounds", type=int, default=None, help="--peers: rounds (default 3)")
    parser.add_argument(
        "--events", type=int, default=None, help="--peers: backlog events (default 40,000)"
    )
    parser.add_argument("--no-plot", action="store_true", help="skip the PNG")
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace, settings: Settings) -> int:
    """Blocks for the run. Raises MoodstreamError subclasses (no broker, a failed step)."""
    if args.peers:
        return _peers(args, settings)
    if args.json == PRINT_JSON:
        raise ConfigError("--json needs a PATH (only --peers prints the JSON)")
    if args.rounds is not None or args.events is not None:
        raise ConfigError("--rounds and --events go with --peers")
    from consumer.bench.plan import PLANS

    plan = PLANS["smoke" if args.smoke else "quick" if args.quick else "full"]
    path = args.json or Path("bench-results") / f"bench-{time.strftime('%Y%m%d-%H%M%S')}.json"
    if path.suffix != ".json":
        raise ConfigError("--json must name a .json file")
    logs = path.with_name(path.stem + "-logs")
    doc = _run(settings, plan, "moodstream " + shlex.join(sys.argv[1:]), logs)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    if not args.no_plot:
        from consumer.bench.plot import write_png

        write_png(doc, path.with_suffix(".png"))
    from consumer.bench.text import summary

    print(summary(doc))
    print(f"\nresults: {path}" + ("" if args.no_plot else f" (+ {path.with_suffix('.png').name})"))
    return 0


def _run(settings: Settings, plan: Any, command: str, logs: Path) -> dict[str, Any]:
    from consumer.bench.plan import print_progress
    from consumer.bench.suite import run_suite
    from consumer.commands import bootstrap_for
    from consumer.kafka.config import client_config

    bootstrap = bootstrap_for(settings)
    client = dict(client_config(settings.kafka, bootstrap))
    return run_suite(settings, bootstrap, client, plan, print_progress, command, logs)


def _peers(args: argparse.Namespace, settings: Settings) -> int:
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
    path = args.json if args.json not in (None, PRINT_JSON) else None
    path = path or Path("bench-results") / f"peers-{stamp}.json"
    if path.suffix != ".json":
        raise ConfigError("--json must name a .json file")
    bootstrap = bootstrap_for(settings)
    client = dict(client_config(settings.kafka, bootstrap))
    doc = run_peers(
        settings, bootstrap, client, rounds=rounds, events=events,
        peers_root=default_root(), log_dir=path.with_name(path.stem + "-logs"),
        progress=print_progress,
    )  # fmt: skip
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    if args.json == PRINT_JSON:
        print(json.dumps(doc, indent=2))
    print(table_text(doc))
    print(f"\nresults: {path}")
    if not doc["outputs_equal"]:
        print("outputs differ between systems (see the JSON's outputs)", file=sys.stderr)
        return 1
    return 0
