"""The supervisor's HTTP endpoint: ``/metrics``, ``/healthz`` and ``/readyz`` on one port.

No threads: the supervisor forks (and re-forks) workers, and forking a process that
runs other threads is unsafe. The supervisor's loop calls
:meth:`MetricsServer.serve_pending` between its own duties, so no client may ever hold
that call: every socket is non-blocking and multiplexed with ``poll``; a connection
gets ``CONNECTION_DEADLINE_S`` from accept to its last response byte (a client that
sends one byte a second is cut off, it does not keep the loop waiting); at most
``MAX_CONNECTIONS`` are open, and when a new one arrives at the cap the oldest that has
sent nothing (else the oldest) is dropped, so idle connections cannot lock out the
probes either; pending requests are read before new connections are accepted. One call therefore
returns within its ``timeout_s`` plus the time to build the responses it sends.

After a fork the child inherits the listening socket and any open connections: call
:meth:`MetricsServer.close` in the worker right after the fork (it only closes the
child's descriptors; the supervisor keeps serving). ``PollSelector`` keeps no kernel
object, so nothing is shared with the child through the selector either.
"""

from __future__ import annotations

import contextlib
import json
import selectors
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from consumer.clock import Clock, SystemClock
from consumer.observability.http import (
    MAX_HEAD_BYTES,
    BadRequest,
    head_complete,
    parse_head,
    response,
)

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

METRICS_PATH = "/metrics"
HEALTHZ_PATH = "/healthz"
READYZ_PATH = "/readyz"
PATHS = (METRICS_PATH, HEALTHZ_PATH, READYZ_PATH)

CONNECTION_DEADLINE_S = 5.0  # accept -> last response byte, whatever the client does
MAX_CONNECTIONS = 64  # open at once; at the cap a new one drops the oldest idle one
LISTEN_BACKLOG = 128
RECV_BYTES = 4096
JSON = "application/json"


class HealthProbe(Protocol):
    def healthz(self) -> tuple[bool, dict[str, Any]]: ...

    def readyz(self) -> tuple[bool, dict[str, Any]]: ...


@dataclass
class _Connection:
    sock: socket.socket
    deadline: float
    received: bytearray = field(default_factory=bytearray)
    unsent: memoryview | None = None


class MetricsServer:
    """Serves ``/metrics``, ``/healthz`` and ``/readyz`` on the caller's thread.

    ``registry_factory`` is called per scrape: ``multiprocess_registry_factory(dir)``
    under ``--workers``, or ``lambda: registry`` in a single process. ``host`` may be
    IPv4 or IPv6; ``::`` also accepts IPv4 clients (dual stack). The constructor binds
    and listens (port 0 picks a free port, see :attr:`port`); it raises ``OSError`` if
    the address is taken. ``clock`` times the connection deadlines. Not thread-safe.
    """

    def __init__(
        self,
        host: str,
        port: int,
        registry_factory: Callable[[], CollectorRegistry],
        health_view: HealthProbe,
        *,
        clock: Clock | None = None,
        connection_deadline_s: float = CONNECTION_DEADLINE_S,
        max_connections: int = MAX_CONNECTIONS,
    ) -> None:
        self._listener = _listen(host, port)
        self._registry_factory = registry_factory
        self._health = health_view
        self._clock: Clock = clock or SystemClock()
        self._deadline_s = connection_deadline_s
        self._max_connections = max(1, max_connections)
        self._selector = selectors.PollSelector()
        self._selector.register(self._listener, selectors.EVENT_READ, None)
        self._connections: dict[int, _Connection] = {}  # in accept order = deadline order

    @property
    def port(self) -> int:
        """The bound port (useful when constructed with port 0)."""
        return int(self._listener.getsockname()[1])

    @property
    def open_connections(self) -> int:
        """Client connections accepted and not yet answered or dropped."""
        return len(self._connections)

    def fileno(self) -> int:
        """The listening socket, for callers that multiplex it with their own selector."""
        return self._listener.fileno()

    def serve_pending(self, timeout_s: float) -> int:
        """Serve for at most ``timeout_s`` and return how many responses were completed.

        Returns early once at least one response went out and no connection is open.
        ``timeout_s=0`` polls once (one step of each ready connection). Never waits on
        a client: reads and writes are non-blocking and connections past their deadline
        are closed. Errors inside an endpoint become HTTP 500; raises nothing else.
        """
        now = self._clock.monotonic()
        end = now + max(0.0, timeout_s)
        answered = 0
        while True:
            self._expire(now)
            wait_s = max(0.0, min(end, self._next_expiry()) - now)
            events = self._selector.select(wait_s)
            # Reads before accepts: a request already sent is answered before a burst of
            # new connections could push its connection out at the cap.
            for key, mask in sorted(events, key=lambda event: event[0].data is None):
                answered += self._dispatch(key, mask)
            now = self._clock.monotonic()
            if answered and not self._connections:
                return answered
            # A quiet wait that expired nothing: the caller's time is up (or the clock is
            # a test's, which only moves when told).
            if now >= end or (not events and not self._expire(now)):
                return answered

    def close(self) -> None:
        """Close the listening socket and every open connection (in this process only:
        no ``shutdown``, so a forked child closing them leaves the parent's intact).
        Idempotent; never raises."""
        for connection in list(self._connections.values()):
            connection.sock.close()
        self._connections.clear()
        self._selector.close()
        self._listener.close()

    # --- events ------------------------------------------------------------------------

    def _dispatch(self, key: selectors.SelectorKey, mask: int) -> int:
        connection: _Connection | None = key.data
        if connection is None:
            return self._accept()
        if mask & selectors.EVENT_READ:
            return self._read(connection)
        return self._write(connection)

    def _accept(self) -> int:
        """Accept what is pending (at most the cap at a time) and read each at once (a
        probe's request is usually there already). Responses completed."""
        answered = 0
        for _ in range(self._max_connections):
            try:
                sock, _address = self._listener.accept()
            except OSError:  # nothing pending (EAGAIN), or out of descriptors
                break
            sock.setblocking(False)
            if len(self._connections) >= self._max_connections:
                self._drop(self._eviction_candidate())
            connection = _Connection(sock, self._clock.monotonic() + self._deadline_s)
            self._connections[sock.fileno()] = connection
            self._selector.register(sock, selectors.EVENT_READ, connection)
            answered += self._read(connection)
        return answered

    def _eviction_candidate(self) -> _Connection:
        """The oldest connection that has sent nothing, else the oldest."""
        connections = self._connections.values()
        return next((c for c in connections if not c.received), next(iter(connections)))

    def _read(self, connection: _Connection) -> int:
        """Take what the client sent; once the head is whole, answer. 1 once the whole
        response is out."""
        try:
            chunk = connection.sock.recv(RECV_BYTES)
        except (BlockingIOError, InterruptedError):
            return 0
        except OSError:
            chunk = b""
        if not chunk:  # the client went away before sending a whole head
            self._drop(connection)
            return 0
        connection.received += chunk
        if not head_complete(connection.received) and len(connection.received) <= MAX_HEAD_BYTES:
            return 0
        connection.unsent = memoryview(self._answer(bytes(connection.received)))
        done = self._write(connection)
        if not done and connection.sock.fileno() >= 0:
            self._selector.modify(connection.sock, selectors.EVENT_WRITE, connection)
        return done

    def _write(self, connection: _Connection) -> int:
        """Send what the socket takes now; 1 once the whole response is out (closed)."""
        assert connection.unsent is not None
        try:
            sent = connection.sock.send(connection.unsent)
        except (BlockingIOError, InterruptedError):
            return 0
        except OSError:
            self._drop(connection)
            return 0
        connection.unsent = connection.unsent[sent:]
        if len(connection.unsent):
            return 0
        self._drop(connection)
        return 1

    def _expire(self, now: float) -> int:
        """Close the connections past their deadline; return how many."""
        dropped = 0
        while self._connections:
            oldest = next(iter(self._connections.values()))
            if oldest.deadline > now:
                break
            self._drop(oldest)
            dropped += 1
        return dropped

    def _next_expiry(self) -> float:
        if not self._connections:
            return float("inf")
        return next(iter(self._connections.values())).deadline

    def _drop(self, connection: _Connection) -> None:
        self._connections.pop(connection.sock.fileno(), None)
        with contextlib.suppress(KeyError, ValueError):
            self._selector.unregister(connection.sock)
        connection.sock.close()

    # --- endpoints ---------------------------------------------------------------------

    def _answer(self, head: bytes) -> bytes:
        try:
            request = parse_head(head)
        except BadRequest as exc:
            return response(exc.status, JSON, json.dumps({"error": str(exc)}).encode())
        try:
            status, content_type, body = self._route(request.path)
        except Exception as exc:  # an endpoint must answer, never kill the supervisor
            status, content_type = 500, JSON
            body = json.dumps({"error": type(exc).__name__}).encode()
        return response(status, content_type, body, head_only=request.method == "HEAD")

    def _route(self, path: str) -> tuple[int, str, bytes]:
        if path == METRICS_PATH:
            from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

            return 200, CONTENT_TYPE_LATEST, generate_latest(self._registry_factory())
        if path == HEALTHZ_PATH:
            return _probe(*self._health.healthz())
        if path == READYZ_PATH:
            return _probe(*self._health.readyz())
        return 404, JSON, b'{"error": "not found"}'


def _probe(ok: bool, body: dict[str, Any]) -> tuple[int, str, bytes]:
    return 200 if ok else 503, JSON, json.dumps(body).encode()


def _listen(host: str, port: int) -> socket.socket:
    """A non-blocking listening socket; ``::`` listens on IPv6 and IPv4. Raises OSError."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6 and host == "::":
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        sock.bind((host, port))
        sock.listen(LISTEN_BACKLOG)
        sock.setblocking(False)
    except OSError:
        sock.close()
        raise
    return sock
