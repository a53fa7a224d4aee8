"""The little HTTP the metrics server speaks: parse one request head, build one response.

Pure functions, no sockets. Only what Prometheus and Kubernetes probes send: ``GET`` or
``HEAD`` with a path; every response closes the connection (``Connection: close``),
so there is no keep-alive state to manage and nothing to read after the head.
"""

from __future__ import annotations

from dataclasses import dataclass

MAX_HEAD_BYTES = 8192
HEAD_END = (b"\r\n\r\n", b"\n\n")
REASONS = {
    200: "OK",
    400: "Bad Request",
    404: "Not Found",
    405: "Method Not Allowed",
    431: "Request Header Fields Too Large",
    500: "Internal Server Error",
    503: "Service Unavailable",
}


@dataclass(frozen=True)
class Request:
    method: str
    path: str  # without the query string


class BadRequest(ValueError):
    """The head cannot be answered; ``status`` is the HTTP status to send."""

    def __init__(self, status: int) -> None:
        super().__init__(REASONS[status])
        self.status = status


def head_complete(data: bytes | bytearray) -> bool:
    """Whether ``data`` holds a whole request head (up to the blank line). Pure."""
    return any(end in data for end in HEAD_END)


def parse_head(data: bytes) -> Request:
    """The request line of a complete head. Raises :class:`BadRequest` (400 for a
    malformed line, 431 for a head over ``MAX_HEAD_BYTES``, 405 for a method other than
    GET/HEAD). Pure."""
    if len(data) > MAX_HEAD_BYTES:
        raise BadRequest(431)
    line = data.split(b"\n", 1)[0].rstrip(b"\r")
    parts = line.split(b" ")
    if len(parts) != 3 or not parts[2].startswith(b"HTTP/") or not parts[1].startswith(b"/"):
        raise BadRequest(400)
    try:
        method, target = parts[0].decode("ascii"), parts[1].decode("ascii")
    except UnicodeDecodeError:
        raise BadRequest(400) from None
    if method not in ("GET", "HEAD"):
        raise BadRequest(405)
    return Request(method, target.split("?", 1)[0])


def response(status: int, content_type: str, body: bytes, *, head_only: bool = False) -> bytes:
    """A complete HTTP/1.1 response that closes the connection. Pure."""
    lines = [
        f"HTTP/1.1 {status} {REASONS.get(status, 'Unknown')}",
        "Server: moodstream",
        f"Content-Type: {content_type}",
        f"Content-Length: {len(body)}",
        "Connection: close",
    ]
    if status == 405:
        lines.append("Allow: GET, HEAD")
    head = ("\r\n".join(lines) + "\r\n\r\n").encode("ascii")
    return head if head_only else head + body
