"""A fake of the exactly-once publisher's bounded calls (``BoundedCalls``), fake clock."""

from __future__ import annotations

from collections.abc import Callable

from consumer.engine.txn_calls import CallStuck
from tests.fakes import FakeClock


class StuckCalls:
    """Every call is stuck: it takes its bound on the fake clock (saying alive once) and
    stays "running" until ``finish`` ends them."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.bounds: list[float] = []
        self.running = 0

    def __call__(self, call: Callable[[], None], bound_s: float, alive: Callable[[], None]) -> None:
        self.bounds.append(bound_s)
        alive()
        self.clock.advance(bound_s)
        self.running += 1
        raise CallStuck(f"no answer after {bound_s} s")

    def left(self) -> int:
        return self.running

    def finish(self) -> None:
        self.running = 0
