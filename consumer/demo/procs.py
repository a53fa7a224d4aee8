"""Child processes of ``moodstream demo`` that never outlive it.

* Each child asks the kernel for SIGTERM when the demo dies, however it dies
  (``prctl(PR_SET_PDEATHSIG)``, Linux), and runs in its own process group, so the demo can
  stop it and everything it forked (the service's workers) together.
* :func:`stop_signals` turns SIGTERM and SIGHUP into :class:`Stopped` (SIGINT already is
  ``KeyboardInterrupt``), so the demo's ``finally`` runs and stops its children.
* :meth:`Child.stop`: SIGTERM, a bounded wait, then SIGKILL to the whole group.
* :meth:`Child.wait_ready`: until its ``/readyz`` answers 200 (or it exits).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import IO

_PR_SET_PDEATHSIG = 1


class Stopped(Exception):
    """The demo got SIGTERM or SIGHUP."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def _die_with_parent() -> None:  # runs in the child between fork and exec
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)


@contextlib.contextmanager
def stop_signals() -> Iterator[None]:
    """Within the block SIGTERM/SIGHUP raise :class:`Stopped` (main thread only)."""

    def handler(signum: int, _frame: FrameType | None) -> None:
        raise Stopped(signum)

    previous = {s: signal.signal(s, handler) for s in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for s, old in previous.items():
            signal.signal(s, old)


@contextlib.contextmanager
def signals_ignored() -> Iterator[None]:
    """Let cleanup finish: SIGINT/SIGTERM/SIGHUP are ignored within the block."""
    names = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    previous = {s: signal.signal(s, signal.SIG_IGN) for s in names}
    try:
        yield
    finally:
        for s, old in previous.items():
            signal.signal(s, old)


@dataclass
class Child:
    name: str
    process: subprocess.Popen[bytes]
    stderr_path: Path | None

    @classmethod
    def start(
        cls, name: str, argv: list[str], env: dict[str, str], stderr_path: Path | None
    ) -> Child:
        """Start ``argv`` in its own process group; stdout discarded, stderr to the file."""
        err: IO[bytes] | int = subprocess.DEVNULL
        if stderr_path is not None:
            err = stderr_path.open("wb")
        try:
            process = subprocess.Popen(
                argv,
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=err,
                process_group=0,
                preexec_fn=_die_with_parent,
            )
        finally:
            if not isinstance(err, int):
                err.close()
        return cls(name, process, stderr_path)

    def stop(self, timeout_s: float) -> int:
        """SIGTERM, wait up to ``timeout_s``, then SIGKILL the group. Returns the exit code."""
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.process.send_signal(signal.SIGTERM)
        try:
            code = self.process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            code = None
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signal.SIGKILL)  # leftovers of the group, if any
        return code if code is not None else self.process.wait()

    def wait_ready(self, port: int, timeout_s: float) -> bool:
        """Whether its ``/readyz`` on 127.0.0.1:``port`` answered 200 within ``timeout_s``
        (False as soon as it exits). Blocks, polling every 0.25 s."""
        import urllib.error
        import urllib.request

        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and self.process.poll() is None:
            try:
                url = f"http://127.0.0.1:{port}/readyz"
                with urllib.request.urlopen(url, timeout=1) as resp:
                    if resp.status == 200:
                        return True
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.25)
        return False

    def not_ready(self) -> int:
        """Stop it (it never became ready), say why; the demo's exit code."""
        code = self.stop(30)
        cause = self.error_line() or "no error output"
        print(f"the {self.name} did not become ready (exit {code}): {cause}", flush=True)
        return code if code > 0 else 1

    def error_line(self) -> str | None:
        """The child's own one-line cause (``moodstream: ...``), else its last stderr line."""
        if self.stderr_path is None or not self.stderr_path.exists():
            return None
        lines = self.stderr_path.read_text(encoding="utf-8", errors="replace").splitlines()
        causes = [ln for ln in lines if ln.startswith("moodstream: ")]
        if causes:
            return causes[-1]
        rest = [ln for ln in lines if ln.strip()]
        return rest[-1] if rest else None
