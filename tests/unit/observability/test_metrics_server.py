"""The metrics server never waits on a client: deadlines, the connection cap, partial
writes, malformed requests, IPv6. No threads and no sleeps: the kernel queues what a
client sends on loopback, ``serve_pending(0)`` takes one step, the fake clock times the
deadlines."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from consumer.observability import HEALTHZ_PATH, MetricsServer
from consumer.observability.http import MAX_HEAD_BYTES, BadRequest, parse_head, response
from tests.fakes import FakeClock

DEADLINE_S = 5.0


class Health:
    def __init__(self, body: dict[str, Any] | None = None) -> None:
        self.body = body or {"status": "ok"}

    def healthz(self) -> tuple[bool, dict[str, Any]]:
        return True, self.body

    def readyz(self) -> tuple[bool, dict[str, Any]]:
        return False, {"status": "not ready"}


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def server(clock: FakeClock) -> Iterator[MetricsServer]:
    srv = MetricsServer(
        "127.0.0.1",
        0,
        CollectorRegistry,
        Health(),
        clock=clock,
        connection_deadline_s=DEADLINE_S,
        max_connections=4,
    )
    yield srv
    srv.close()


def connect(server: MetricsServer, host: str = "127.0.0.1") -> socket.socket:
    return socket.create_connection((host, server.port), timeout=5)


def steps(server: MetricsServer, count: int = 3) -> int:
    """``count`` non-waiting steps (accept, read, write); responses completed."""
    return sum(server.serve_pending(0) for _ in range(count))


def reply(sock: socket.socket) -> tuple[int, bytes]:
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), body


def closed_by_server(sock: socket.socket) -> bool:
    sock.settimeout(0)
    try:
        return sock.recv(1) == b""
    except BlockingIOError:
        return False
    except ConnectionResetError:
        return True


def test_a_slow_client_neither_holds_the_call_nor_outlives_its_deadline(
    server: MetricsServer, clock: FakeClock
) -> None:
    slow = connect(server)
    slow.sendall(b"GET /hea")  # and then one byte now and then
    assert steps(server) == 0 and server.open_connections == 1
    other = connect(server)
    other.sendall(f"GET {HEALTHZ_PATH} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    assert steps(server) == 1
    assert reply(other) == (200, b'{"status": "ok"}')
    clock.advance(DEADLINE_S - 0.1)
    slow.sendall(b"l")
    assert steps(server) == 0 and not closed_by_server(slow)
    clock.advance(0.2)
    slow.sendall(b"t")
    steps(server)
    assert server.open_connections == 0 and closed_by_server(slow)


def test_at_the_cap_a_new_connection_drops_the_oldest(server: MetricsServer) -> None:
    idle = [connect(server) for _ in range(4)]
    steps(server)
    assert server.open_connections == 4
    probe = connect(server)
    probe.sendall(b"GET /healthz HTTP/1.0\r\n\r\n")
    assert steps(server) == 1
    assert reply(probe)[0] == 200
    assert closed_by_server(idle[0])
    assert not any(closed_by_server(s) for s in idle[1:])
    assert server.open_connections == 3


def test_a_request_in_a_burst_of_idle_connections_is_still_answered(
    server: MetricsServer,
) -> None:
    idle = [connect(server) for _ in range(4)]
    steps(server)
    probe = connect(server)
    probe.sendall(b"GET /healthz HTTP/1.1\r\n\r\n")
    idle += [connect(server) for _ in range(12)]  # queued behind the probe, cap is 4
    assert steps(server, 8) == 1
    assert reply(probe)[0] == 200
    assert server.open_connections == 4
    assert sum(closed_by_server(s) for s in idle) == 12


def test_a_response_larger_than_the_socket_buffer_goes_out_in_steps(clock: FakeClock) -> None:
    big = {"status": "ok", "pad": "x" * 4_000_000}
    srv = MetricsServer("127.0.0.1", 0, CollectorRegistry, Health(big), clock=clock)
    try:
        client = connect(srv)
        client.sendall(b"GET /healthz HTTP/1.1\r\n\r\n")
        assert steps(srv) == 0  # the kernel took part of it; the rest waits for the client
        data = b""
        answered = 0
        while not answered:
            data += client.recv(1 << 20)
            answered = steps(srv, 1)
        while chunk := client.recv(1 << 20):
            data += chunk
        assert json.loads(data.partition(b"\r\n\r\n")[2]) == big
    finally:
        srv.close()


@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [
        (b"HEAD /healthz HTTP/1.1\r\n\r\n", 200),
        (b"POST /healthz HTTP/1.1\r\nContent-Length: 0\r\n\r\n", 405),
        (b"GARBAGE\r\n\r\n", 400),
        (b"GET /nope HTTP/1.1\r\n\r\n", 404),
        (b"GET /readyz?x=1 HTTP/1.1\r\n\r\n", 503),
        (b"GET /" + b"a" * MAX_HEAD_BYTES + b" HTTP/1.1\r\n", 431),
    ],
)
def test_requests_get_their_status(
    server: MetricsServer, request_bytes: bytes, status: int
) -> None:
    client = connect(server)
    client.sendall(request_bytes)
    assert steps(server, 6) == 1
    got, body = reply(client)
    assert got == status
    assert (body == b"") is request_bytes.startswith(b"HEAD")


def test_parse_head_and_response_are_plain_http() -> None:
    assert parse_head(b"GET /metrics?x HTTP/1.1\r\nHost: a\r\n\r\n").path == "/metrics"
    with pytest.raises(BadRequest) as caught:
        parse_head(b"GET metrics HTTP/1.1\r\n\r\n")
    assert caught.value.status == 400
    text = response(405, "text/plain", b"no").decode()
    assert text.startswith("HTTP/1.1 405 Method Not Allowed\r\n")
    assert "Allow: GET, HEAD\r\n" in text and "Connection: close\r\n" in text
    assert text.endswith("\r\n\r\nno")


@pytest.mark.parametrize("client_host", ["::1", "127.0.0.1"])
def test_ipv6_any_serves_ipv6_and_ipv4_clients(clock: FakeClock, client_host: str) -> None:
    try:
        srv = MetricsServer("::", 0, CollectorRegistry, Health(), clock=clock)
    except OSError as exc:  # a kernel without IPv6
        pytest.skip(f"no IPv6: {exc}")
    try:
        client = connect(srv, client_host)
        client.sendall(b"GET /healthz HTTP/1.1\r\n\r\n")
        assert steps(srv) == 1
        assert reply(client)[0] == 200
    finally:
        srv.close()


def test_close_in_a_forked_child_leaves_the_parents_connections_open(
    server: MetricsServer,
) -> None:
    import os

    client = connect(server)
    steps(server)
    assert server.open_connections == 1
    pid = os.fork()
    if pid == 0:  # the worker's first act after the fork
        server.close()
        os._exit(0)
    assert os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) == 0
    client.sendall(b"GET /healthz HTTP/1.1\r\n\r\n")
    assert steps(server) == 1
    assert reply(client)[0] == 200
