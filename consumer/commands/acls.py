"""``moodstream acls``: the Kafka ACLs the service, its windows stage, the lag exporter,
the topics Job and ``dlq redrive`` need with these settings (consumer.kafka.acls), for a
platform team to grant: a table, ``--json``, or Strimzi KafkaUser resources. Talks to
no cluster."""

from __future__ import annotations

import argparse
import json

from consumer.commands.text_table import aligned
from consumer.errors import ConfigError
from consumer.settings import Settings


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "acls",
        help="print the Kafka ACLs the service, the windows stage, the lag exporter, the "
        "topics job and `dlq redrive` need (exactly-once adds the transactional-id prefix)",
    )
    parser.add_argument(
        "--principal",
        action="append",
        default=[],
        metavar="ROLE=PRINCIPAL",
        help="the principal of a role (service, windows, lag_exporter, topics, redrive), e.g. "
        "service=User:moodstream; repeatable (default: placeholders such as User:<service>)",
    )
    output = parser.add_mutually_exclusive_group()
    output.add_argument("--json", action="store_true", help="print the ACLs as JSON")
    output.add_argument(
        "--strimzi",
        metavar="CLUSTER",
        default=None,
        help="print Strimzi KafkaUser resources for the Kafka cluster named CLUSTER",
    )
    parser.set_defaults(handler=acls_command)


def _principals(pairs: list[str]) -> dict[str, str]:
    """``ROLE=PRINCIPAL`` flags as a dict. Raises ConfigError on a malformed one."""
    chosen = {}
    for pair in pairs:
        role, sep, principal = pair.partition("=")
        if not sep or not principal.strip():
            raise ConfigError(f"--principal takes ROLE=PRINCIPAL, got {pair!r}")
        chosen[role.strip().replace("-", "_")] = principal.strip()
    return chosen


def acls_command(args: argparse.Namespace, settings: Settings) -> int:
    """Print the ACLs. Does not block. Raises ConfigError on a bad --principal."""
    from consumer.kafka import strimzi
    from consumer.kafka.acls import required_acls

    try:
        acls = required_acls(settings, _principals(args.principal))
    except ValueError as exc:
        raise ConfigError(f"--principal: {exc}") from None
    if args.json:
        print(json.dumps({"acls": [acl.as_dict() for acl in acls]}, indent=2), flush=True)
    elif args.strimzi is not None:
        print(strimzi.documents(strimzi.kafka_users(acls, args.strimzi)), end="", flush=True)
    else:
        rows = [
            (a.role, a.principal, a.resource_type, a.pattern_type, a.name, a.operation, a.why)
            for a in acls
        ]
        header = ("ROLE", "PRINCIPAL", "RESOURCE", "PATTERN", "NAME", "OPERATION", "WHY")
        print("\n".join(aligned([header, *rows])), flush=True)
    return 0
