"""Health state shared between forked workers and the supervisor, through small JSON files.

Each worker owns one file (``worker-<index>.json``) that its :class:`HealthReporter`
rewrites atomically (temp file + ``os.replace``); the supervisor's :class:`HealthView`
reads them all to answer ``/healthz`` and ``/readyz``. Files, not pipes or shared
memory: nothing to clean up after a crash, nothing to lock, and a worker that hangs
simply stops refreshing its heartbeat.

Both sides take a :class:`consumer.clock.Clock` and compare ``clock.monotonic()``
values across processes: with ``SystemClock`` that is ``time.monotonic``, which on
Linux is system-wide (``CLOCK_MONOTONIC``) and does not jump with NTP.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from consumer.clock import Clock


def health_file(directory: Path, worker: int | str) -> Path:
    """The file worker ``worker`` (its index, stable across restarts) reports to."""
    return directory / f"worker-{worker}.json"


class HealthReporter:
    """Worker side: publishes this worker's health for the supervisor.

    Not thread-safe: call from the worker's poll loop only.
    """

    def __init__(self, path: Path, clock: Clock, *, heartbeat_interval_s: float = 1.0) -> None:
        self._path = path
        self._clock = clock
        self._interval_s = heartbeat_interval_s
        self._last_state: tuple[object, ...] | None = None
        self._last_write = float("-inf")
        self._last_payload: dict[str, Any] | None = None
        self._last_alive = float("-inf")
        self._reasons: dict[str, str] = {}  # why not ready, from parts other than the loop

    def update(
        self,
        ready: bool,
        assigned: bool | None,
        stuck_models: Sequence[str] = (),
        detail: Mapping[str, Any] | str | None = None,
    ) -> bool:
        """Record the current state; writes only if it changed or a heartbeat is due.

        ``ready``: models loaded and warmed, the group joined and settled. ``assigned``:
        holds partitions (False: in the group without any, None: not joined yet).
        ``stuck_models``: models whose pool has a call past its deadline.
        ``detail``: small JSON-able context, never user data or feature values.
        Safe to call every loop iteration. Blocks only on a small local file write
        (when it writes) and returns whether it wrote. Raises ``OSError`` if the
        directory is not writable.
        """
        reasons = sorted(self._reasons.values())
        state = (ready, assigned, tuple(stuck_models), json.dumps(detail, sort_keys=True),
                 tuple(reasons))  # fmt: skip
        now = self._clock.monotonic()
        if state == self._last_state and now - self._last_write < self._interval_s:
            return False
        payload = {
            "pid": os.getpid(),
            "ready": ready,
            "assigned": assigned,
            "stuck_models": list(stuck_models),
            "detail": detail,
            "heartbeat": now,
            "not_ready_because": reasons,
        }
        self._write(payload)
        self._last_state = state
        self._last_write = now
        self._last_payload = payload
        return True

    def not_ready_because(self, key: str, reason: str | None) -> None:
        """A part of the worker other than the loop (``key``) says why it is not ready
        (None: it no longer does). Written with the loop's next ``update``; does not block."""
        if reason is None:
            self._reasons.pop(key, None)
        else:
            self._reasons[key] = reason

    def alive(self, waiting_for: str) -> bool:
        """The loop is blocked in a Kafka call (``waiting_for``) but the worker is alive:
        refresh ``alive`` only, at most once per heartbeat interval. The hang detector
        reads it; readiness still ages with the loop's own ``heartbeat``. Blocks only on a
        small local file write; returns whether it wrote. Raises ``OSError`` as ``update``.
        """
        now = self._clock.monotonic()
        if now - self._last_alive < self._interval_s:
            return False
        payload = dict(self._last_payload or {"pid": os.getpid(), "ready": False,
                                              "assigned": None, "stuck_models": [],
                                              "detail": None, "heartbeat": now})  # fmt: skip
        payload.update(alive=now, waiting_for_kafka=waiting_for)
        self._write(payload)
        self._last_alive = now
        self._last_state = None  # the loop's next update rewrites it without the wait
        return True

    def _write(self, payload: Mapping[str, Any]) -> None:
        tmp = self._path.with_name(f".{self._path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(payload), encoding="utf-8")
        os.replace(tmp, self._path)

    def remove(self) -> None:
        """Delete the file (clean worker exit). Blocks on the filesystem; never raises."""
        self._path.unlink(missing_ok=True)


@dataclass(frozen=True)
class WorkerHealth:
    name: str
    pid: int | None
    ready: bool
    assigned: bool | None
    stuck_models: tuple[str, ...]
    age_s: float | None
    problems: tuple[str, ...]
    alive_age_s: float | None = None  # since the loop's heartbeat or a later ``alive``

    @property
    def ok(self) -> bool:
        return not self.problems

    def as_dict(self) -> dict[str, Any]:
        return {
            "pid": self.pid,
            "ready": self.ready,
            "assigned": self.assigned,
            "stuck_models": list(self.stuck_models),
            "heartbeat_age_s": None if self.age_s is None else round(self.age_s, 3),
            "problems": list(self.problems),
        }


class HealthView:
    """Supervisor side: aggregates every worker's file.

    Blocks only on reading a few small local files. Not thread-safe (the
    supervisor calls it from its single thread).
    """

    def __init__(
        self,
        directory: Path,
        clock: Clock,
        stale_after_s: float,
        *,
        expected_workers: int | None = None,
    ) -> None:
        self._dir = directory
        self._clock = clock
        self._stale_after_s = stale_after_s
        self.expected_workers = expected_workers

    def workers(self) -> list[WorkerHealth]:
        """The health of every worker that has a file, sorted by name."""
        if not self._dir.is_dir():
            return []
        now = self._clock.monotonic()
        return [self._read(path, now) for path in sorted(self._dir.glob("worker-*.json"))]

    def stale_workers(self) -> list[WorkerHealth]:
        """Workers whose heartbeat is older than ``stale_after_s`` (hung loop: kill them)."""
        return [
            w
            for w in self.workers()
            if w.age_s is not None
            and self._stale(w.age_s if w.alive_age_s is None else w.alive_age_s)
        ]

    def forget(self, worker: int | str) -> None:
        """Drop a worker's file (it exited and will not be restarted). Never raises."""
        health_file(self._dir, worker).unlink(missing_ok=True)

    def healthz(self) -> tuple[bool, dict[str, Any]]:
        """Liveness: True while this process can answer. Workers are listed, not judged:
        the supervisor restarts them; failing liveness would restart the whole pod."""
        workers = self.workers()
        return True, {"status": "ok", "pid": os.getpid(), "workers": len(workers)}

    def readyz(self) -> tuple[bool, dict[str, Any]]:
        """Readiness: every live worker has its models warmed and its group settled, no model
        stuck and a fresh heartbeat (holding partitions or not); at least one worker,
        and ``expected_workers`` of them when set."""
        workers = self.workers()
        problems: list[str] = []
        expected = self.expected_workers if self.expected_workers is not None else 1
        if len(workers) < expected:
            problems.append(f"{len(workers)} of {expected} workers reporting")
        ready = not problems and all(w.ok for w in workers)
        body = {
            "status": "ready" if ready else "not ready",
            "problems": problems,
            "workers": {w.name: w.as_dict() for w in workers},
        }
        return ready, body

    def _stale(self, age_s: float) -> bool:
        return age_s > self._stale_after_s

    def _read(self, path: Path, now: float) -> WorkerHealth:
        name = path.stem.removeprefix("worker-")
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            age_s = now - float(data["heartbeat"])
            alive_age_s = min(age_s, now - float(data.get("alive", data["heartbeat"])))
            stuck = tuple(str(m) for m in data.get("stuck_models") or ())
            ready = bool(data.get("ready"))
        except (OSError, ValueError, KeyError, TypeError):
            return WorkerHealth(name, None, False, None, (), None, ("health file unreadable",))
        problems = []
        detail = data.get("detail")
        if not ready:
            why = f" ({detail})" if isinstance(detail, str) else ""
            problems.append(f"models not loaded and warmed, or the group not settled{why}")
        if stuck:
            problems.append("stuck models: " + ", ".join(stuck))
        problems.extend(str(reason)[:300] for reason in data.get("not_ready_because") or ())
        if self._stale(age_s):
            waiting = data.get("waiting_for_kafka")
            why = f" (waiting on Kafka in {str(waiting)[:100]})" if waiting else ""
            problems.append(f"heartbeat {age_s:.1f}s old{why}")
        if isinstance(detail, dict) and detail.get("waiting_for_schema_registry"):
            waiting = str(detail["waiting_for_schema_registry"])[:300]
            problems.append(f"waiting for the schema registry: {waiting}")
        pid = data.get("pid")
        return WorkerHealth(
            name,
            pid if isinstance(pid, int) else None,
            ready,
            data.get("assigned"),
            stuck,
            age_s,
            tuple(problems),
            alive_age_s,
        )
