"""The local cluster's fault proxy: one Toxiproxy server, one proxy per node.

Proxy ``node-<n>`` listens on ``proxy_listen_port(n)`` and forwards to node n's PROXIED
listener, which advertises the proxy's port: a client bootstrapped on
``proxied_bootstrap`` reaches every broker (leaders, coordinators) through the proxy,
while inter-broker replication and the controller quorum use the direct listeners. State
under ``<cluster root>/proxy/``. Not thread-safe; the cluster's file lock serialises
start and stop between processes.
"""

from __future__ import annotations

from pathlib import Path

from consumer.localkafka import cluster_files as cfiles
from consumer.localkafka.cluster_files import NODE_IDS
from consumer.localkafka.toxiproxy import (
    ToxiproxyClient,
    ToxiproxyProcess,
    ensure_server,
    server_path,
)
from consumer.settings import LocalClusterSettings


class FaultProxy:
    def __init__(self, cache_dir: Path, cluster_root: Path, settings: LocalClusterSettings):
        self._cache_dir = cache_dir
        self._state_dir = cluster_root / "proxy"
        self._settings = settings

    def start(self) -> ToxiproxyClient:
        """Build Toxiproxy on first use, start it unless it runs, create each node's proxy
        with no toxic (idempotent: leftover toxics of an interrupted run are removed).
        Blocks (the first build: about a minute); raises ToolMissingError, BrokerError."""
        binary = ensure_server(self._cache_dir)
        api_port = cfiles.proxy_api_port(self._settings)
        client = ToxiproxyProcess(binary, api_port, self._state_dir).start()
        client.reset()
        for n in NODE_IDS:
            client.ensure_proxy(
                cfiles.proxy_name(n),
                cfiles.proxy_listen_port(self._settings, n),
                cfiles.node_ports(self._settings, n).proxied,
            )
        return client

    def client(self) -> ToxiproxyClient:
        """The API client of the running server (no check that it runs). Never blocks."""
        return ToxiproxyClient(cfiles.proxy_api_port(self._settings))

    def stop(self) -> int | None:
        """Stop the server if it runs (nothing is built for this); return its pid."""
        process = ToxiproxyProcess(
            server_path(self._cache_dir), cfiles.proxy_api_port(self._settings), self._state_dir
        )
        return process.stop()
