"""The local services' ports and the machine's ephemeral port range.

Linux hands ports of its ephemeral range (``/proc/sys/net/ipv4/ip_local_port_range``,
32768-60999 by default) to every outgoing connection and to every server that binds
port 0, so a listener placed there may find its port taken at any moment. The local
broker, cluster, Toxiproxy and Schema Registry therefore listen below it by default,
and a port configured inside it is refused at start with the setting to change.
"""

from __future__ import annotations

import random
import socket
from collections.abc import Mapping
from pathlib import Path

from consumer.errors import BrokerError

RANGE_FILE = Path("/proc/sys/net/ipv4/ip_local_port_range")
#: Where ``free_port_below_range`` looks (under the range, clear of the defaults at 28000+).
SPARE_PORTS = range(20_000, 28_000)


def parse_port_range(text: str) -> tuple[int, int]:
    """``(low, high)`` from the text of ``ip_local_port_range`` ("32768\\t60999\\n").
    Pure. Raises ValueError for any other text."""
    fields = text.split()
    if len(fields) != 2 or not all(field.isdigit() for field in fields):
        raise ValueError(f"not a port range: {text!r}")
    low, high = int(fields[0]), int(fields[1])
    if not 0 < low <= high <= 65_535:
        raise ValueError(f"not a port range: {text!r}")
    return low, high


def ephemeral_range(path: Path = RANGE_FILE) -> tuple[int, int] | None:
    """This machine's ephemeral port range; None where the file is absent or unreadable
    (not Linux). Reads one small file; never raises."""
    try:
        return parse_port_range(path.read_text())
    except (OSError, ValueError):
        return None


def ephemeral_conflict(ports: Mapping[int, str], port_range: tuple[int, int] | None) -> str | None:
    """The one-line refusal for the first port (mapped to the setting that chooses it)
    inside ``port_range``, or None when every port lies outside. Pure."""
    if port_range is None:
        return None
    low, high = port_range
    for port, setting in sorted(ports.items()):
        if low <= port <= high:
            return (
                f"port {port} lies in this machine's ephemeral port range {low}-{high} "
                f"({RANGE_FILE}), where any outgoing connection may take it: set {setting} "
                f"to a port below {low}"
            )
    return None


def refuse_ephemeral(ports: Mapping[int, str], path: Path | None = None) -> None:
    """Raise BrokerError (one line, naming the setting) if a port lies in the ephemeral
    range read from ``path`` (default ``RANGE_FILE``). Never blocks."""
    problem = ephemeral_conflict(ports, ephemeral_range(path or RANGE_FILE))
    if problem is not None:
        raise BrokerError(problem)


def free_port_below_range(rng: random.Random | None = None, tries: int = 200) -> int:
    """A port of ``SPARE_PORTS`` (below any usual ephemeral range) that is free on
    127.0.0.1 now, for tests that start their own local service. Raises BrokerError
    when ``tries`` random picks are all taken."""
    pick = rng or random.Random()
    for _ in range(tries):
        port = pick.choice(SPARE_PORTS)
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
        return port
    raise BrokerError(f"no free port found among {tries} tries in {SPARE_PORTS}")
