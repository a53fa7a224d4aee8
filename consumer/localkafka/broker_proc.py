"""Operating-system helpers of the local broker: java, ports, processes, log tails.

Every function here blocks for at most the bound it states.
"""

from __future__ import annotations

import fcntl
import os
import re
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import psutil

from consumer.errors import BrokerError, ToolMissingError
from consumer.localkafka.maven import require_tool

HOST = "127.0.0.1"
STOP_TIMEOUT_S = 30.0
KILL_TIMEOUT_S = 10.0
JAVA_HINT = "install OpenJDK 17+ (java), e.g. `apt-get install openjdk-17-jre-headless`"


@contextmanager
def exclusive_lock(path: Path, *, timeout_s: float | None = None) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``path`` (created with its folder) for the ``with``
    block; released on exit, and by the kernel if the process dies. Blocks until it is
    held: indefinitely, or at most ``timeout_s`` (then raises TimeoutError). Between
    processes only; not re-entrant."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+b") as handle:
        if timeout_s is None:
            fcntl.flock(handle, fcntl.LOCK_EX)
        else:
            _lock_within(handle.fileno(), path, timeout_s)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _lock_within(fd: int, path: Path, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if time.monotonic() >= deadline:
                raise TimeoutError(f"{path} stayed locked for {timeout_s:.0f} s") from None
            time.sleep(min(1.0, max(0.01, deadline - time.monotonic())))


def spawn_detached(
    cmd: list[str], out_path: Path, cwd: Path, pid_file: Path
) -> subprocess.Popen[bytes]:
    """Start ``cmd`` in its own session (a terminal's signals never reach it), stdout and
    stderr to ``out_path``, and record its pid in ``pid_file``. Does not block; raises
    OSError when it cannot be started."""
    with open(out_path, "wb") as out:
        proc = subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=cwd,
            start_new_session=True,
        )
    pid_file.write_text(f"{proc.pid}\n")
    return proc


def require_java() -> str:
    """The java binary, checked to be 17+. Blocks for ``java -version`` (under a second).

    Raises ToolMissingError when java is missing, broken or older than 17.
    """
    java = require_tool("java", JAVA_HINT)
    try:
        done = subprocess.run([java, "-version"], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ToolMissingError(f"`{java} -version` failed ({exc}): {JAVA_HINT}") from None
    match = re.search(r'version "(\d+)(?:\.(\d+))?', done.stderr + done.stdout)
    if match:
        major = int(match.group(1))
        major = int(match.group(2) or 0) if major == 1 else major
        if major < 17:
            raise ToolMissingError(f"{java} is Java {major}; the Kafka broker needs {JAVA_HINT}")
    return java


def terminate(pid: int) -> None:
    """SIGTERM, wait up to STOP_TIMEOUT_S, then SIGKILL and wait up to KILL_TIMEOUT_S.

    Reaps the process when it is our child. A zombie whose parent is another process (a
    broker started by another CLI call) counts as stopped: it holds no port or file, and
    only its parent can reap it. Raises BrokerError if it survives SIGKILL.
    """
    try:
        proc = psutil.Process(pid)
        proc.terminate()
        if _gone(proc, STOP_TIMEOUT_S):
            return
        proc.kill()
        if not _gone(proc, KILL_TIMEOUT_S):
            raise BrokerError(f"the broker (pid {pid}) survived SIGKILL")
    except psutil.NoSuchProcess:
        return


def wait_gone(pid: int, timeout_s: float) -> bool:
    """Whether process ``pid`` exited within ``timeout_s`` (reaped, a zombie or gone)."""
    try:
        return _gone(psutil.Process(pid), timeout_s)
    except psutil.NoSuchProcess:
        return True


def _gone(proc: psutil.Process, timeout_s: float) -> bool:
    """Wait until the process exited (reaped or a zombie). Blocks up to ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            proc.wait(min(0.2, max(0.0, deadline - time.monotonic())))
            return True
        except psutil.TimeoutExpired:
            pass
        except psutil.NoSuchProcess:
            return True
        try:
            if proc.status() == psutil.STATUS_ZOMBIE:
                return True
        except psutil.NoSuchProcess:
            return True
        if time.monotonic() >= deadline:
            return False


def wait_started(
    proc: subprocess.Popen[bytes],
    ready: Callable[[], bool],
    deadline: float,
    what: str,
    log_tail: Callable[[], str],
) -> None:
    """Poll ``ready`` every 0.2 s until it holds. Blocks until ``deadline`` (monotonic);
    raises BrokerError (``what`` is "the broker did not open ...", with the log tail) when
    the process exits first or the deadline passes."""
    while not ready():
        if proc.poll() is not None:
            raise BrokerError(
                f"{what.split(' did not', 1)[0]} exited with code {proc.returncode} during "
                f"start-up:\n{log_tail()}"
            )
        if time.monotonic() >= deadline:
            raise BrokerError(f"{what}:\n{log_tail()}")
        time.sleep(0.2)


def live_pid(pid_file: Path, *markers: str) -> int | None:
    """The pid in ``pid_file`` if that process is alive and its command line has ``markers``.

    Guards against a stale pid file and a recycled pid. Never blocks.
    """
    try:
        pid = int(pid_file.read_text().strip())
        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE:
            proc.wait(0)  # our own child that died: reap it
            return None
        cmdline = proc.cmdline()
    except (OSError, ValueError, psutil.Error):
        return None
    return pid if all(marker in cmdline for marker in markers) else None


def live_leases(leases: Path) -> int:
    """Count lease files ``<pid>-<id>`` whose process lives; delete the dead ones."""
    live = 0
    for lease in leases.glob("*-*"):
        pid = lease.name.split("-", 1)[0]
        if pid.isdigit() and psutil.pid_exists(int(pid)):
            live += 1
        else:
            lease.unlink(missing_ok=True)  # its holder died without cleaning up
    return live


def port_open(port: int) -> bool:
    """Whether something accepts TCP connections on 127.0.0.1:``port``. Blocks <= 0.5 s."""
    try:
        with socket.create_connection((HOST, port), timeout=0.5):
            return True
    except OSError:
        return False


def require_free_ports(ports: list[int]) -> None:
    """Raise BrokerError naming the first port on 127.0.0.1 that another process holds."""
    for port in ports:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind((HOST, port))
            except OSError:
                raise BrokerError(
                    f"port {port} on {HOST} is taken by another process: free it or choose "
                    "other ports with MOODSTREAM_BROKER__PORT / __CONTROLLER_PORT / __SASL_PORT"
                ) from None


#: How long a port check waits for a port held by a passing client connection.
PORT_WAIT_S = 20.0


def wait_free_ports(ports: list[int], move_hint: str, timeout_s: float = PORT_WAIT_S) -> None:
    """``require_free_ports``, retried for ``timeout_s``: the ports lie in Linux's ephemeral
    range (32768-60999), so a passing client connection may hold one for a moment.

    Raises BrokerError naming the port and ``move_hint`` (how to choose other ports).
    """
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            require_free_ports(ports)
            return
        except BrokerError as exc:
            if time.monotonic() >= deadline:
                first = str(exc).split(":", 1)[0]
                raise BrokerError(f"{first} for {timeout_s:g} s: {move_hint}") from None
        time.sleep(0.5)


def run_tool(cmd: list[str], what: str, timeout_s: float, cwd: Path | None = None) -> None:
    """Run a short-lived tool (in ``cwd``, default: this process's). Blocks up to ``timeout_s``.

    Raises BrokerError (``what`` failed, with the output tail) on failure or timeout.
    """
    try:
        done = subprocess.run(
            cmd,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout_s,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise BrokerError(f"{what} took over {timeout_s:g} s") from None
    if done.returncode != 0:
        output = "\n".join((done.stdout + done.stderr).strip().splitlines()[-10:])
        raise BrokerError(f"{what} failed (exit {done.returncode}):\n{output}")


def tail(path: Path, lines: int) -> str:
    """The last ``lines`` lines of a text file ('' if unreadable). Reads at most 64 KiB."""
    try:
        with open(path, "rb") as handle:
            handle.seek(0, os.SEEK_END)
            handle.seek(max(0, handle.tell() - 64 * 1024))
            text = handle.read().decode("utf-8", "replace")
    except OSError:
        return ""
    return "\n".join(text.strip().splitlines()[-lines:])
