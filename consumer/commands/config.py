"""``moodstream config [--json]``: the settings in effect and where each came from.

Every setting with its ``MOODSTREAM_*`` variable, its value (secrets as ``***``) and
its source: ``env`` (set in the environment) or ``default``.
"""

from __future__ import annotations

import argparse
import json
import os
from typing import Any

from consumer.commands import plain_text
from consumer.settings import Settings
from consumer.settings_env import effective_settings


def register(sub: Any) -> None:
    parser = sub.add_parser(
        "config",
        help="print the settings in effect and where each came from",
        description=plain_text(__doc__) if __doc__ else None,
    )
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace, settings: Settings) -> int:
    """Prints and returns 0; does not block, raises nothing."""
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
