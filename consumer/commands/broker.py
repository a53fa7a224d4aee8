"""``moodstream broker start|stop|status``: the local single-node Kafka broker, or with
``--nodes 3`` the local three-node cluster; ``kill|restart|pause|resume NODE`` hurt one
node of the cluster (see ``commands/cluster.py``).

stdout carries only the result (an address, or JSON with ``--json``); progress and
notes go to stderr. ``status`` exits 0 when the broker (every node) runs and 3 when not.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from consumer.commands import cluster
from consumer.errors import ExitCode
from consumer.localkafka.broker import BrokerInfo, LocalBroker
from consumer.settings import Settings

EXIT_NOT_RUNNING = ExitCode.NOT_RUNNING


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "broker", help="run a local single-node Kafka broker (jars from Maven Central)"
    )
    actions = parser.add_subparsers(dest="broker_action", required=True, metavar="ACTION")
    start = actions.add_parser("start", help="start it (downloads the jars once) and wait")
    start.add_argument("--json", action="store_true", help="print the result as JSON")
    start.add_argument(
        "--sasl",
        action="store_true",
        help="also open a SASL_PLAINTEXT SCRAM-SHA-256 listener with user 'moodstream'",
    )
    _nodes_option(start)
    start.set_defaults(handler=start_command)
    stop = actions.add_parser("stop", help="stop it (SIGTERM, then SIGKILL after 30 s)")
    stop.add_argument("--json", action="store_true", help="print the result as JSON")
    _nodes_option(stop)
    stop.set_defaults(handler=stop_command)
    status = actions.add_parser("status", help="exit 0 if it runs, 3 if not")
    status.add_argument("--json", action="store_true", help="print the result as JSON")
    _nodes_option(status)
    status.set_defaults(handler=status_command)
    cluster.register_faults(actions)


def _nodes_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--nodes",
        type=int,
        choices=(1, 3),
        default=1,
        help="1: the single-node broker (default); 3: the local three-node cluster",
    )


def _note(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _emit(as_json: bool, payload: dict[str, Any], text: str) -> None:
    print(json.dumps(payload) if as_json else text, flush=True)


def start_command(args: argparse.Namespace, settings: Settings) -> int:
    """Start the broker unless a cluster is configured. Blocks until it is ready."""
    if args.nodes == 3:
        return cluster.start_command(args, settings)
    configured = settings.kafka.bootstrap_servers.strip()
    if configured:
        _note(
            f"MOODSTREAM_KAFKA__BOOTSTRAP_SERVERS is set: using the configured cluster "
            f"{configured}; no local broker started"
        )
        _emit(args.json, {"bootstrap_servers": configured, "pid": None}, configured)
        return 0
    info = LocalBroker(settings.broker, progress=_note).start(sasl=args.sasl)
    _emit(args.json, start_payload(info), _start_text(info))
    return 0


def start_payload(info: BrokerInfo) -> dict[str, Any]:
    """The JSON of ``broker start --json``; includes the SASL password when SASL is on."""
    payload: dict[str, Any] = {"bootstrap_servers": info.bootstrap_servers, "pid": info.pid}
    if info.sasl is not None:
        payload |= {
            "sasl_bootstrap_servers": info.sasl.bootstrap_servers,
            "sasl_mechanism": info.sasl.mechanism,
            "sasl_username": info.sasl.username,
            "sasl_password": info.sasl.password.get_secret_value(),
        }
    return payload


def _start_text(info: BrokerInfo) -> str:
    if info.sasl is None:
        return info.bootstrap_servers
    return (
        f"{info.bootstrap_servers}\n"
        f"SASL_PLAINTEXT {info.sasl.bootstrap_servers} {info.sasl.mechanism} "
        f"user={info.sasl.username} (password: `moodstream broker start --sasl --json`)"
    )


def stop_command(args: argparse.Namespace, settings: Settings) -> int:
    """Stop the local broker if it runs. Blocks up to about 40 s."""
    if args.nodes == 3:
        return cluster.stop_command(args, settings)
    pid = LocalBroker(settings.broker).stop()
    text = f"stopped the local broker (pid {pid})" if pid else "the local broker was not running"
    _emit(args.json, {"stopped": pid is not None, "pid": pid}, text)
    return 0


def status_command(args: argparse.Namespace, settings: Settings) -> int:
    """Report whether the local broker runs. Never blocks."""
    if args.nodes == 3:
        return cluster.status_command(args, settings)
    status = LocalBroker(settings.broker).status()
    payload: dict[str, Any] = {
        "running": status.running,
        "bootstrap_servers": status.bootstrap_servers,
        "pid": status.pid,
    }
    if status.sasl_bootstrap_servers is not None:
        payload["sasl_bootstrap_servers"] = status.sasl_bootstrap_servers
    if status.running:
        text = f"running (pid {status.pid}) at {status.bootstrap_servers}"
    else:
        text = "not running"
    _emit(args.json, payload, text)
    return 0 if status.running else EXIT_NOT_RUNNING
