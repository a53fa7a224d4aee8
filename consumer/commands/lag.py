"""``moodstream lag [--json]``: per-partition lag of the consumer group on the input topic.

Reads the group's committed offsets, the end offsets and which member owns each
partition from the cluster, like kafka-consumer-groups --describe; works while no
worker runs. A partition the group never committed shows "-" as its current offset;
its lag counts from the earliest retained offset (where the group will start) and is
included in the total, which says how much of it comes from such partitions.
``--serve`` keeps reading and serves the figures as Prometheus metrics (the exporter the
dead-service alerts rely on: :mod:`consumer.observability.lag_exporter`).
"""

from __future__ import annotations

import argparse
import json
import math
from typing import TYPE_CHECKING, Any

from consumer.commands import plain_text
from consumer.commands.text_table import aligned
from consumer.errors import ConfigError
from consumer.settings import Settings

if TYPE_CHECKING:
    from consumer.kafka.lag import LagReport

HEADERS = (
    "GROUP",
    "TOPIC",
    "PARTITION",
    "CURRENT-OFFSET",
    "LOG-END-OFFSET",
    "LAG",
    "CONSUMER-ID",
    "HOST",
    "CLIENT-ID",
)


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    parser = subparsers.add_parser(
        "lag",
        help="per-partition lag of the consumer group",
        description=plain_text(__doc__.split("\n\n", 1)[1]) if __doc__ else None,
    )
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    parser.add_argument(
        "--timeout-s",
        type=float,
        default=None,
        help="give up after this many seconds (default: KAFKA__CONNECT_TIMEOUT_S)",
    )
    parser.add_argument(
        "--serve",
        action="store_true",
        help="keep reading every --interval-s and serve the lag as Prometheus metrics on "
        "OBSERVABILITY__HOST:PORT (/metrics, /healthz, /readyz) until SIGTERM",
    )
    parser.add_argument(
        "--interval-s", type=float, default=15.0, help="with --serve: seconds between reads"
    )
    parser.add_argument(
        "--port", type=int, default=None, help="with --serve: instead of OBSERVABILITY__PORT"
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Print the lag report. Blocks up to the timeout; raises KafkaSetupError/BrokerError."""
    from consumer.commands import bootstrap_for
    from consumer.kafka.lag import describe_lag

    if args.timeout_s is not None and not (math.isfinite(args.timeout_s) and args.timeout_s > 0):
        raise ConfigError("--timeout-s must be a finite number of seconds > 0")
    if args.serve:
        return _serve(args, settings)
    report = describe_lag(settings, bootstrap_for(settings), timeout_s=args.timeout_s)
    print(json.dumps(report.as_dict()) if args.json else format_table(report))
    return 0


def format_table(report: LagReport) -> str:
    """The human table: one row per partition, ``-`` where the group never committed."""
    rows = [HEADERS]
    for p in report.partitions:
        committed = "-" if p.committed is None else str(p.committed)
        who = (
            ("-", "-", "-")
            if p.member is None
            else (p.member.consumer_id, p.member.host, p.member.client_id)
        )
        rows.append(
            (report.group, p.topic, str(p.partition), committed, str(p.end), str(p.lag), *who)
        )
    lines = aligned(rows)
    total = f"TOTAL LAG: {report.total_lag}"
    if report.never_committed_lag:
        total += (
            f" (of which {report.never_committed_lag} on partitions the group never "
            "committed, counted from their earliest offset)"
        )
    lines.append(total)
    return "\n".join(lines)


def _serve(args: argparse.Namespace, settings: Settings) -> int:
    """``lag --serve``: blocks until SIGTERM/SIGINT (exit 0). Raises ConfigError."""
    import signal
    import threading

    from consumer.commands import bootstrap_for
    from consumer.logs import configure_logging
    from consumer.observability.lag_exporter import serve

    if not (math.isfinite(args.interval_s) and args.interval_s > 0):
        raise ConfigError("--interval-s must be a finite number of seconds > 0")
    port = settings.observability.port if args.port is None else args.port
    timeout_s = args.timeout_s or min(settings.kafka.connect_timeout_s, 10.0)
    configure_logging(settings.observability.log_level)
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda _signum, _frame: stop.set())
    try:
        return serve(
            settings,
            bootstrap_for(settings),
            port=port,
            interval_s=args.interval_s,
            timeout_s=timeout_s,
            stop=stop,
        )
    except OSError as exc:
        raise ConfigError(
            f"cannot serve on {settings.observability.host}:{port} ({exc.strerror}): "
            "choose another with --port or MOODSTREAM_OBSERVABILITY__PORT"
        ) from None
