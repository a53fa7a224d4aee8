"""The fault proxy itself: the real Toxiproxy server (built with ``go install`` on first
use) in front of a real TCP echo server, driven by the project's HTTP client. The toxics
the chaos suite relies on must do what RELIABILITY.md says: ``timeout`` 0 holds a
connection open and passes nothing, removing it closes the connection, ``reset_peer``
resets it, a disabled proxy refuses connections."""

from __future__ import annotations

import os
import socket
import socketserver
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from consumer.errors import BrokerError
from consumer.localkafka.toxiproxy import ToxiproxyClient, ToxiproxyProcess, ensure_server
from consumer.settings import Settings
from tests.integration.harness import free_port


class _Echo(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        while data := self.request.recv(4096):
            self.request.sendall(data)


@pytest.fixture
def echo_port() -> Iterator[int]:
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _Echo)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield int(server.server_address[1])
    server.shutdown()
    server.server_close()


@pytest.fixture
def proxy(tmp_path: Path) -> Iterator[ToxiproxyClient]:
    try:
        binary = ensure_server(Settings().broker.cache_dir)
    except BrokerError as exc:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"Toxiproxy cannot be built: {exc}", pytrace=False)
        pytest.skip(f"Toxiproxy cannot be built: {exc}")
    process = ToxiproxyProcess(binary, free_port(), tmp_path)
    client = process.start()
    yield client
    process.stop()


def _connect(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    sock.settimeout(1.0)
    return sock


def _echoes(sock: socket.socket) -> bool:
    sock.sendall(b"ping")
    try:
        return sock.recv(16) == b"ping"
    except TimeoutError:
        return False


def test_timeout_toxic_holds_connections_open_and_its_removal_closes_them(
    proxy: ToxiproxyClient, echo_port: int
) -> None:
    listen = free_port()
    proxy.ensure_proxy("echo", listen, echo_port)
    proxy.ensure_proxy("echo", listen, echo_port)  # idempotent
    sock = _connect(listen)
    assert _echoes(sock)
    proxy.add_toxic("echo", "cut", "timeout", "downstream", {"timeout": 0})
    assert not _echoes(sock)  # open, but nothing comes back
    fresh = _connect(listen)  # new connections are accepted and starve too
    assert not _echoes(fresh)
    proxy.remove_toxic("echo", "cut")
    sock.settimeout(5.0)
    assert sock.recv(16) == b""  # the held connection is closed at the heal
    assert _echoes(_connect(listen))
    assert proxy.proxies()["echo"]["toxics"] == []


def test_reset_peer_resets_and_a_disabled_proxy_refuses(
    proxy: ToxiproxyClient, echo_port: int
) -> None:
    listen = free_port()
    proxy.ensure_proxy("echo", listen, echo_port)
    proxy.add_toxic("echo", "rst", "reset_peer", "downstream", {"timeout": 0})
    sock = _connect(listen)
    sock.settimeout(5.0)
    sock.sendall(b"ping")
    with pytest.raises(ConnectionResetError):
        sock.recv(16)
    proxy.reset()  # every toxic removed, every proxy enabled
    assert _echoes(_connect(listen))
    proxy.set_enabled("echo", False)
    with pytest.raises(ConnectionRefusedError):
        _connect(listen)
    with pytest.raises(BrokerError, match="HTTP 404"):
        proxy.remove_toxic("echo", "no-such-toxic")
    proxy.remove_toxic("echo", "no-such-toxic", missing_ok=True)  # gone already: fine
