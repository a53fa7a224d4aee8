"""The supervisor's HTTP endpoint: ``/metrics``, ``/healthz`` and ``/readyz`` on one port.

No threads: the supervisor forks (and re-forks) workers, and forking a process that
runs other threads is unsafe. The supervisor's loop calls
:meth:`MetricsServer.serve_pending` to answer whatever requests are waiting.

After a fork the child inherits the listening socket: call :meth:`MetricsServer.close`
in the worker right after the fork (it only closes the child's descriptor; the
supervisor keeps serving).
"""

from __future__ import annotations

import json
import selectors
import socket
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

METRICS_PATH = "/metrics"
HEALTHZ_PATH = "/healthz"
READYZ_PATH = "/readyz"
PATHS = (METRICS_PATH, HEALTHZ_PATH, READYZ_PATH)

# A client that connects and then stalls holds the supervisor's loop at most this long.
CLIENT_TIMEOUT_S = 2.0
MAX_REQUESTS_PER_CALL = 32


class HealthProbe(Protocol):
    def healthz(self) -> tuple[bool, dict[str, Any]]: ...

    def readyz(self) -> tuple[bool, dict[str, Any]]: ...


class _Server(HTTPServer):
    registry_factory: Callable[[], CollectorRegistry]
    health: HealthProbe


class _Server6(_Server):
    address_family = socket.AF_INET6


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    timeout = CLIENT_TIMEOUT_S
    server_version = "moodstream"

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        try:
            if path == METRICS_PATH:
                self._metrics()
            elif path == HEALTHZ_PATH:
                self._probe(*self.server.health.healthz())
            elif path == READYZ_PATH:
                self._probe(*self.server.health.readyz())
            else:
                self._send(404, "application/json", b'{"error": "not found"}')
        except Exception as exc:  # an endpoint must answer, never kill the supervisor
            body = json.dumps({"error": type(exc).__name__}).encode()
            self._send(500, "application/json", body)

    def _metrics(self) -> None:
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        self._send(200, CONTENT_TYPE_LATEST, generate_latest(self.server.registry_factory()))

    def _probe(self, ok: bool, body: dict[str, Any]) -> None:
        self._send(200 if ok else 503, "application/json", json.dumps(body).encode())

    def _send(self, status: int, content_type: str, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        """Silence the per-request stderr line (logs are JSON events, not access logs)."""


class MetricsServer:
    """Serves ``/metrics``, ``/healthz`` and ``/readyz`` on the caller's thread.

    ``registry_factory`` is called per scrape: ``multiprocess_registry_factory(dir)``
    under ``--workers``, or ``lambda: registry`` in a single process.
    The constructor binds and listens (port 0 picks a free port, see :attr:`port`);
    it raises ``OSError`` if the address is taken. Not thread-safe.
    """

    def __init__(
        self,
        host: str,
        port: int,
        registry_factory: Callable[[], CollectorRegistry],
        health_view: HealthProbe,
    ) -> None:
        server_class = _Server6 if ":" in host else _Server
        self._httpd = server_class((host, port), _Handler)
        self._httpd.registry_factory = registry_factory
        self._httpd.health = health_view
        self._httpd.timeout = 0

    @property
    def port(self) -> int:
        """The bound port (useful when constructed with port 0)."""
        return int(self._httpd.server_address[1])

    def fileno(self) -> int:
        """The listening socket, for callers that multiplex it with their own selector."""
        return self._httpd.fileno()

    def serve_pending(self, timeout_s: float) -> int:
        """Answer the requests that arrive within ``timeout_s`` and return how many.

        Blocks at most ``timeout_s`` waiting for the first request, plus up to
        ``CLIENT_TIMEOUT_S`` per slow client; returns early once no request is
        pending after one was handled. ``timeout_s=0`` only polls. Errors inside a
        handler become HTTP 500; raises nothing else.
        """
        handled = 0
        deadline = time.monotonic() + max(0.0, timeout_s)
        with selectors.DefaultSelector() as selector:
            selector.register(self._httpd.socket, selectors.EVENT_READ)
            while handled < MAX_REQUESTS_PER_CALL:
                wait_s = 0.0 if handled else max(0.0, deadline - time.monotonic())
                if not selector.select(wait_s):
                    break
                self._httpd.handle_request()
                handled += 1
        return handled

    def close(self) -> None:
        """Close the listening socket (in this process only). Idempotent; never raises."""
        self._httpd.server_close()
