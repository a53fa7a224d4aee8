"""A local service that several processes use at once (test sessions, a developer's
shell), coordinated through files in its state folder::

    .lock       held while starting, stopping or counting users
    leases/     one ``<pid>-<id>`` file per ``shared`` block in progress
    auto-stop   present when a ``shared`` block started the service (it is stopped when
                the last lease goes); absent when a user started it with ``start``
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Generic, TypeVar

from consumer.localkafka import broker_proc as proc_util

T = TypeVar("T")


class SharedUse(Generic[T]):
    """Start/stop/share one service whose state lives in ``root``. ``running`` (the pid or
    None), ``start_locked`` and ``stop_locked`` are called with the lock held."""

    def __init__(
        self,
        root: Path,
        running: Callable[[], int | None],
        start_locked: Callable[[], T],
        stop_locked: Callable[[], int | None],
    ) -> None:
        self._lock = root / ".lock"
        self._leases = root / "leases"
        self._auto_stop = root / "auto-stop"
        self._running = running
        self._start_locked = start_locked
        self._stop_locked = stop_locked

    def start(self) -> T:
        """Start it as the user's (never auto-stopped). Blocks on the lock, then as
        ``start_locked``; raises what it raises."""
        with proc_util.exclusive_lock(self._lock):
            result = self._start_locked()
            self._auto_stop.unlink(missing_ok=True)
            return result

    def stop(self) -> int | None:
        """Stop it whoever uses it; the pid or None. Blocks on the lock and ``stop_locked``."""
        with proc_util.exclusive_lock(self._lock):
            self._auto_stop.unlink(missing_ok=True)
            return self._stop_locked()

    @contextmanager
    def shared(self) -> Iterator[T]:
        """Use it for the ``with`` block, starting it if needed; stopped on exit only if a
        ``shared`` block started it and no live process holds a lease. Blocks and raises
        like ``start``/``stop``."""
        with proc_util.exclusive_lock(self._lock):
            was_running = self._running() is not None
            result = self._start_locked()
            if not was_running:
                self._auto_stop.touch()
            self._leases.mkdir(exist_ok=True)
            lease = self._leases / f"{os.getpid()}-{uuid.uuid4().hex}"
            lease.touch()
        try:
            yield result
        finally:
            with proc_util.exclusive_lock(self._lock):
                lease.unlink(missing_ok=True)
                if self._auto_stop.exists() and not proc_util.live_leases(self._leases):
                    self._auto_stop.unlink(missing_ok=True)
                    self._stop_locked()
