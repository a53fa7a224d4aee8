"""Memory of a process, read from ``/proc`` (Linux), with psutil as the fallback.

RSS counts the model weights shared copy-on-write with the supervisor in every
worker; PSS divides shared pages among the processes that map them, so the sum of
the workers' PSS is what the pod really uses.
"""

from __future__ import annotations

from pathlib import Path

_PROC = Path("/proc")


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="ascii", errors="replace")
    except OSError:
        return None


def _kb_field(text: str | None, field: str) -> int | None:
    for line in (text or "").splitlines():
        if line.startswith(field + ":"):
            parts = line.split()
            if len(parts) >= 2 and parts[1].isdigit():
                return int(parts[1]) * 1024
    return None


def process_rss_bytes(pid: int) -> int:
    """Resident set size of ``pid`` in bytes (0 for a zombie not yet reaped).

    Blocks on one small ``/proc`` read. Raises ``ProcessLookupError`` if the process
    does not exist. Thread-safe.
    """
    status = _read(_PROC / str(pid) / "status")
    if status is not None:
        return _kb_field(status, "VmRSS") or 0  # zombies and kernel threads have no VmRSS
    import psutil  # no /proc (not Linux)

    try:
        return int(psutil.Process(pid).memory_info().rss)
    except psutil.ZombieProcess:
        return 0
    except psutil.NoSuchProcess as exc:
        raise ProcessLookupError(pid) from exc


def process_pss_bytes(pid: int) -> int | None:
    """Proportional set size of ``pid`` in bytes, or None where the kernel does not
    expose it (no ``smaps_rollup``, another user's process, process gone).

    Blocks on one ``/proc`` read (the kernel walks the page tables: call it at most
    every few seconds). Raises nothing. Thread-safe.
    """
    return _kb_field(_read(_PROC / str(pid) / "smaps_rollup"), "Pss")
