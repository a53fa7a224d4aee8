"""``moodstream topics create``: create the topics of the settings (both stages) (idempotent);
``moodstream topics plan``: print what ``create`` would create, for a team that creates
its topics itself (a table, ``--json``, or Strimzi KafkaTopic resources)."""

from __future__ import annotations

import argparse
import json
import sys

from consumer.commands import bootstrap_for
from consumer.commands.text_table import aligned
from consumer.errors import ConfigError
from consumer.kafka.config import client_config
from consumer.kafka.topics_plan import (
    PRODUCTION_REPLICATION,
    ensure_topics,
    plan_replication,
    topic_specs,
)
from consumer.settings import Settings


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("topics", help="manage the service's topics")
    actions = parser.add_subparsers(dest="topics_action", required=True, metavar="ACTION")
    create = actions.add_parser(
        "create", help="create the input, output, alert, dead-letter and overflow topics"
    )
    _layout_arguments(create)
    create.add_argument("--json", action="store_true", help="print topic -> status as JSON")
    create.set_defaults(handler=create_command)
    plan = actions.add_parser(
        "plan",
        help="print what `topics create` would create (partitions, replication, configs), "
        "without a cluster",
    )
    _layout_arguments(plan)
    plan.add_argument(
        "--brokers",
        type=int,
        default=PRODUCTION_REPLICATION,
        help="brokers of the cluster the plan is for (default 3): the default replication "
        "and min ISR depend on it, as in `topics create`",
    )
    output = plan.add_mutually_exclusive_group()
    output.add_argument("--json", action="store_true", help="print the plan as JSON")
    output.add_argument(
        "--strimzi",
        metavar="CLUSTER",
        default=None,
        help="print Strimzi KafkaTopic resources for the Kafka cluster named CLUSTER",
    )
    plan.set_defaults(handler=plan_command)


def _layout_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--partitions",
        type=int,
        default=None,
        help="partitions per new topic (default: MOODSTREAM_TOPICS__PARTITIONS, 6)",
    )
    parser.add_argument(
        "--replication-factor",
        type=int,
        default=None,
        help="replicas per new topic (default: MOODSTREAM_TOPICS__REPLICATION_FACTOR, "
        "else min(3, brokers))",
    )
    parser.add_argument(
        "--min-insync-replicas",
        type=int,
        default=None,
        help="min.insync.replicas of new topics (default: "
        "MOODSTREAM_TOPICS__MIN_INSYNC_REPLICAS, else min(2, replication - 1), at least 1)",
    )


def _partitions(args: argparse.Namespace, settings: Settings) -> int:
    """The partition count the flags and settings ask for. Raises ConfigError on a flag
    below 1."""
    partitions = settings.topics.partitions if args.partitions is None else args.partitions
    if partitions < 1:
        raise ConfigError(f"--partitions must be at least 1, got {partitions}")
    for flag in ("replication_factor", "min_insync_replicas", "brokers"):
        value = getattr(args, flag, None)
        if value is not None and value < 1:
            raise ConfigError(f"--{flag.replace('_', '-')} must be at least 1, got {value}")
    return partitions


def create_command(args: argparse.Namespace, settings: Settings) -> int:
    """Create the topics on the configured cluster or the local broker.

    Blocks up to about KAFKA__CONNECT_TIMEOUT_S for the cluster, then for the creation.
    Raises ConfigError (bad --partitions), BrokerError (no cluster), KafkaSetupError.
    """
    partitions = _partitions(args, settings)
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


def plan_command(args: argparse.Namespace, settings: Settings) -> int:
    """Print the topics ``topics create`` would create on a cluster of ``--brokers``
    brokers with these settings and flags. Talks to no cluster; does not block. Raises
    ConfigError (a bad flag, a replication the cluster could not hold)."""
    from consumer.kafka import strimzi

    partitions = _partitions(args, settings)
    topics = settings.topics
    plan = plan_replication(
        args.brokers,
        topics.replication_factor if args.replication_factor is None else args.replication_factor,
        topics.min_insync_replicas
        if args.min_insync_replicas is None
        else args.min_insync_replicas,
    )
    specs = topic_specs(topics, partitions, plan)
    if plan.note is not None:
        print(f"note: {plan.note}", file=sys.stderr, flush=True)
    if args.json:
        print(json.dumps({"topics": [spec.as_dict() for spec in specs]}, indent=2), flush=True)
    elif args.strimzi is not None:
        print(strimzi.documents(strimzi.kafka_topics(specs, args.strimzi)), end="", flush=True)
    else:
        rows = [
            (
                spec.role,
                spec.name,
                str(spec.partitions),
                str(spec.replication_factor),
                ",".join(f"{k}={v}" for k, v in sorted(spec.config.items())),
            )
            for spec in specs
        ]
        header = ("ROLE", "TOPIC", "PARTITIONS", "REPLICATION", "CONFIG")
        print("\n".join(aligned([header, *rows])), flush=True)
    return 0
