"""``moodstream dlq redrive [--reason R] [--dry-run] [--json]``: dead letters back to input.

Reads the dead-letter topic up to its end, keeps the records whose reason matches
(``too_large``, ``unknown_field``, ...; all when no ``--reason``), sends their original
key and value to the input topic and commits its progress in the group
``<KAFKA__GROUP_ID>.redrive.<reason|all>``, so running it again sends only newer dead
letters. A record dead-lettered for a reason that still holds comes back to the
dead-letter topic: change the setting (for example PROCESSING__MAX_MESSAGE_BYTES) or the
producer first.
"""

from __future__ import annotations

import argparse
import json
import math
from typing import Any

from consumer.commands import plain_text
from consumer.errors import ConfigError
from consumer.settings import Settings


def register(sub: Any) -> None:
    parser = sub.add_parser("dlq", help="work with the dead-letter topic")
    actions = parser.add_subparsers(dest="dlq_action", required=True, metavar="ACTION")
    redrive = actions.add_parser(
        "redrive",
        help="send dead letters (optionally of one reason) back to the input topic",
        description=plain_text(__doc__) if __doc__ else None,
    )
    redrive.add_argument("--reason", default=None, help="only this reason, e.g. too_large")
    redrive.add_argument(
        "--dry-run", action="store_true", help="count what would be sent; send and commit nothing"
    )
    redrive.add_argument(
        "--timeout-s",
        type=float,
        default=None,
        help="bound for the cluster and for reading the topic (default: "
        "KAFKA__CONNECT_TIMEOUT_S, at least 30)",
    )
    redrive.add_argument("--json", action="store_true", help="print the summary as JSON")
    redrive.set_defaults(handler=handle)


def handle(args: argparse.Namespace, settings: Settings) -> int:
    """Blocks until the topic is read and the records acknowledged; 0 on success.
    Raises ConfigError, KafkaSetupError."""
    from consumer.commands import bootstrap_for
    from consumer.kafka.redrive import redrive

    timeout_s = args.timeout_s
    if timeout_s is None:
        timeout_s = max(30.0, settings.kafka.connect_timeout_s)
    if not (math.isfinite(timeout_s) and timeout_s > 0):
        raise ConfigError("--timeout-s must be a finite number > 0")
    summary = redrive(
        settings,
        bootstrap_for(settings),
        reason=args.reason,
        timeout_s=timeout_s,
        dry_run=args.dry_run,
    )
    if args.json:
        print(json.dumps(summary.as_dict()))
        return 0
    what = f"of reason {args.reason}" if args.reason else ""
    verb = "would redrive" if args.dry_run else "redriven"
    skipped = ", ".join(f"{r} {n}" for r, n in sorted(summary.other_reasons.items()))
    print(
        f"{verb} {summary.redriven} dead letter(s) {what} from {summary.source} to "
        f"{summary.target} ({summary.read} read"
        + (f"; other reasons left: {skipped}" if skipped else "")
        + f"); progress in group {summary.group}"
    )
    return 0
