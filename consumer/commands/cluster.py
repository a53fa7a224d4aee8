"""The ``--nodes 3`` half of ``moodstream broker``: the local three-node cluster.

``start`` prints the addresses of its three listeners (PLAINTEXT, SSL, SASL_SSL), the CA
to trust and the SCRAM login; ``kill|restart|pause|resume NODE`` send SIGKILL / restart /
SIGSTOP / SIGCONT to one node, for fault tests and for rehearsing failures.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from consumer.errors import ExitCode
from consumer.localkafka.cluster import ClusterInfo, LocalCluster
from consumer.settings import Settings

EXIT_NOT_RUNNING = ExitCode.NOT_RUNNING
_FAULTS = {
    "kill": "SIGKILL one node of the local cluster (a hard crash)",
    "restart": "start one node again (SIGTERM first if it runs) and wait until it is in",
    "pause": "SIGSTOP one node (a long GC pause); `resume` undoes it",
    "resume": "SIGCONT a paused node",
}


def register_faults(actions: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    for name, text in _FAULTS.items():
        parser = actions.add_parser(name, help=text)
        parser.add_argument("node", type=int, choices=(1, 2, 3), metavar="NODE", help="1, 2 or 3")
        parser.add_argument("--json", action="store_true", help="print the result as JSON")
        parser.set_defaults(handler=fault_command, fault=name)


def _cluster(settings: Settings) -> LocalCluster:
    return LocalCluster(
        settings.broker, settings.cluster, progress=lambda m: print(m, file=sys.stderr)
    )


def start_payload(info: ClusterInfo) -> dict[str, Any]:
    """The JSON of ``broker start --nodes 3 --json`` (includes the SCRAM password)."""
    return {
        "bootstrap_servers": info.bootstrap_servers,
        "nodes": [{"node_id": n.node_id, "pid": n.pid, "port": n.port} for n in info.nodes],
        "tls_bootstrap_servers": info.tls_bootstrap_servers,
        "ca_location": info.ca_location,
        "sasl_ssl_bootstrap_servers": info.sasl_ssl_bootstrap_servers,
        "sasl_mechanism": info.sasl_mechanism,
        "sasl_username": info.sasl_username,
        "sasl_password": info.sasl_password.get_secret_value(),
        "proxied_bootstrap_servers": info.proxied_bootstrap_servers,
    }


def start_command(args: argparse.Namespace, settings: Settings) -> int:
    """Start the three nodes (idempotent). Blocks until all answer (about 10-40 s)."""
    info = _cluster(settings).start()
    if args.json:
        print(json.dumps(start_payload(info)), flush=True)
        return 0
    print(
        f"{info.bootstrap_servers}\n"
        f"SSL {info.tls_bootstrap_servers} (CA {info.ca_location})\n"
        f"SASL_SSL {info.sasl_ssl_bootstrap_servers} {info.sasl_mechanism} "
        f"user={info.sasl_username} (password: `moodstream broker start --nodes 3 --json`)\n"
        f"through the fault proxy (Toxiproxy): {info.proxied_bootstrap_servers}",
        flush=True,
    )
    return 0


def stop_command(args: argparse.Namespace, settings: Settings) -> int:
    """Stop every node. Blocks up to about 40 s per node."""
    pids = _cluster(settings).stop()
    text = f"stopped {len(pids)} node(s) of the local cluster" if pids else "no node was running"
    print(json.dumps({"stopped": pids}) if args.json else text, flush=True)
    return 0


def status_command(args: argparse.Namespace, settings: Settings) -> int:
    """Each node's pid and whether it is up; exit 3 unless all three are. Never blocks."""
    nodes = _cluster(settings).status()
    running = all(n.up for n in nodes)
    if args.json:
        payload = {
            "running": running,
            "bootstrap_servers": _cluster(settings).bootstrap_servers,
            "nodes": [
                {"node_id": n.node_id, "pid": n.pid, "port": n.port, "up": n.up} for n in nodes
            ],
        }
        print(json.dumps(payload), flush=True)
    else:
        for n in nodes:
            state = "up" if n.up else ("paused" if n.pid else "down")
            print(f"node {n.node_id}: {state} (pid {n.pid}) port {n.port}", flush=True)
    return 0 if running else EXIT_NOT_RUNNING


def fault_command(args: argparse.Namespace, settings: Settings) -> int:
    """kill / restart / pause / resume one node. Raises BrokerError if it is not running
    (kill, pause, resume). restart blocks until the node is back in the cluster."""
    cluster = _cluster(settings)
    pid = getattr(cluster, args.fault)(args.node)
    if args.json:
        print(json.dumps({"node_id": args.node, "action": args.fault, "pid": pid}), flush=True)
    else:
        print(f"{args.fault}: node {args.node} (pid {pid})", flush=True)
    return 0
