"""``moodstream topics create``: create the five topics of the settings (idempotent)."""

from __future__ import annotations

import argparse
import json
import sys

from consumer.commands import bootstrap_for
from consumer.errors import ConfigError
from consumer.kafka.config import client_config
from consumer.kafka.topics_plan import ensure_topics
from consumer.settings import Settings


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("topics", help="manage the service's topics")
    actions = parser.add_subparsers(dest="topics_action", required=True, metavar="ACTION")
    create = actions.add_parser(
        "create", help="create the input, output, alert, dead-letter and overflow topics"
    )
    create.add_argument(
        "--partitions",
        type=int,
        default=None,
        help="partitions per new topic (default: MOODSTREAM_TOPICS__PARTITIONS, 6)",
    )
    create.add_argument(
        "--replication-factor",
        type=int,
        default=None,
        help="replicas per new topic (default: MOODSTREAM_TOPICS__REPLICATION_FACTOR, "
        "else min(3, brokers))",
    )
    create.add_argument(
        "--min-insync-replicas",
        type=int,
        default=None,
        help="min.insync.replicas of new topics (default: "
        "MOODSTREAM_TOPICS__MIN_INSYNC_REPLICAS, else min(2, replication - 1), at least 1)",
    )
    create.add_argument("--json", action="store_true", help="print topic -> status as JSON")
    create.set_defaults(handler=create_command)


def create_command(args: argparse.Namespace, settings: Settings) -> int:
    """Create the topics on the configured cluster or the local broker.

    Blocks up to about KAFKA__CONNECT_TIMEOUT_S for the cluster, then for the creation.
    Raises ConfigError (bad --partitions), BrokerError (no cluster), KafkaSetupError.
    """
    partitions = settings.topics.partitions if args.partitions is None else args.partitions
    if partitions < 1:
        raise ConfigError(f"--partitions must be at least 1, got {partitions}")
    for flag in ("replication_factor", "min_insync_replicas"):
        value = getattr(args, flag)
        if value is not None and value < 1:
            raise ConfigError(f"--{flag.replace('_', '-')} must be at least 1, got {value}")
    config = client_config(settings.kafka, bootstrap_for(settings))
    result, plan = ensure_topics(
        config,
        settings.topics,
        settings.kafka.connect_timeout_s,
        partitions=partitions,
        replication_factor=args.replication_factor,
        min_insync_replicas=args.min_insync_replicas,
    )
    if plan.note is not None:
        print(f"note: {plan.note}", file=sys.stderr, flush=True)
    if args.json:
        print(json.dumps(result), flush=True)
    else:
        for topic, state in result.items():
            detail = (
                f" ({partitions} partitions, replication {plan.replication_factor}, "
                f"min ISR {plan.min_insync_replicas})"
                if state == "created"
                else " (left as it is)"
            )
            print(f"{state:8} {topic}{detail}", flush=True)
    return 0
