"""What a lane (and the warm-up) asks of the pool its model runs on: ``submit``. The
service's ``ThreadPoolExecutor`` satisfies it, and so do the tests' inline and hand-run
fakes (``tests/fakes``), without a cast or a ``type: ignore``."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, Protocol, TypeVar

T = TypeVar("T")


class Pool(Protocol):
    """Runs ``fn(*args)`` later, on a worker of its own; never blocks the caller (a pool
    that is shut down raises ``RuntimeError``)."""

    def submit(self, fn: Callable[..., T], /, *args: Any) -> Future[T]: ...
