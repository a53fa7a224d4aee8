"""``moodstream config [--json] [--check]``: the settings in effect and where each came from.

Every setting with its ``MOODSTREAM_*`` variable, its value (secrets as ``***``) and
its source: ``env`` (set in the environment) or ``default``. ``--check`` instead runs
every check ``moodstream run`` makes before it touches Kafka (the settings, the user hash
key, the cluster address, the models with their checksums, the metrics port, the Kafka
clients' settings as librdkafka reads them) and fails as ``run`` would: same message,
same exit code.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

from consumer.commands import plain_text
from consumer.settings import Settings
from consumer.settings_env import effective_settings


def register(sub: Any) -> None:
    parser = sub.add_parser(
        "config",
        help="print the settings in effect and where each came from; --check: run's checks",
        description=plain_text(__doc__) if __doc__ else None,
    )
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    parser.add_argument(
        "--check",
        action="store_true",
        help="run every check `run` makes before Kafka; exit non-zero as run would",
    )
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace, settings: Settings) -> int:
    """Prints and returns 0. Without ``--check`` does not block and raises nothing; with
    it blocks while the models load and raises what ``run`` raises (ConfigError,
    BrokerError, ModelLoadError)."""
    if args.check:
        return _check(args, settings)
    rows = effective_settings(settings, os.environ)
    if args.json:
        document = {r.variable: {"value": r.value, "source": r.source} for r in rows}
        print(json.dumps(document, indent=2))
        return 0
    width = max(len(r.variable) for r in rows)
    for r in rows:
        value = json.dumps(r.value) if not isinstance(r.value, str) else r.value
        print(f"{r.variable.ljust(width)}  {r.source:7}  {value}")
    return 0


def _check(args: argparse.Namespace, settings: Settings) -> int:
    from consumer.commands.preflight import run_checks

    passed: list[str] = []

    def done(what: str) -> None:
        passed.append(what)
        if not args.json:
            print(f"ok  {what}", flush=True)

    models = run_checks(settings, done)
    if args.json:
        print(json.dumps({"ok": True, "checks": passed, "model_set": models.digest}))
    else:
        print("every check `moodstream run` makes before Kafka passed", file=sys.stderr)
    return 0
