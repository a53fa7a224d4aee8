"""``moodstream lag [--json]``: per-partition lag of the consumer group on the input topic.

Reads the group's committed offsets and the end offsets from the cluster, like
``kafka-consumer-groups --describe``; works while no worker runs.
"""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING, Any

from consumer.settings import Settings

if TYPE_CHECKING:
    from consumer.kafka.lag import LagReport

HEADERS = ("GROUP", "TOPIC", "PARTITION", "CURRENT-OFFSET", "LOG-END-OFFSET", "LAG")


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    parser = subparsers.add_parser(
        "lag",
        help="per-partition lag of the consumer group",
        description=__doc__.splitlines()[0] if __doc__ else None,
    )
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    parser.add_argument(
        "--timeout-s",
        type=float,
        default=None,
        help="give up after this many seconds (default: KAFKA__CONNECT_TIMEOUT_S)",
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Print the lag report. Blocks up to the timeout; raises KafkaSetupError/BrokerError."""
    from consumer.kafka.lag import describe_lag

    report = describe_lag(settings, timeout_s=args.timeout_s)
    print(json.dumps(report.as_dict()) if args.json else format_table(report))
    return 0


def format_table(report: LagReport) -> str:
    """The human table: one row per partition, ``-`` where the group never committed."""
    rows = [HEADERS]
    for p in report.partitions:
        committed = "-" if p.committed is None else str(p.committed)
        rows.append((report.group, p.topic, str(p.partition), committed, str(p.end), str(p.lag)))
    widths = [max(len(row[i]) for row in rows) for i in range(len(HEADERS))]
    lines = [
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]
    lines.append(f"TOTAL LAG: {report.total_lag}")
    return "\n".join(lines)
