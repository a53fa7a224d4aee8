"""Warm every model where and how it will run: on its lane's pool thread, at its shapes.

A model's first call at a new shape pays for lazy set-up (ONNX Runtime arena growth,
XGBoost's per-shape buffers, torch's kernel selection), and a pool's first task pays for
starting its thread. A worker that skipped this paid it on its first records: slow
predictions in the first seconds after every start. So before the worker joins its group
each booster scores 1 row and a full micro-batch (``PROCESSING__MAX_BATCH_SIZE`` rows), and
PAT scores one call of ``MODELS__PAT_SUB_BATCH_SIZE`` rows twice; the second call, timed,
is the PAT lane's first speed estimate. On a GPU (``MODELS__PAT_DEVICE``) the first call
moves the weights to the device and creates the worker's CUDA context; PAT then scores one
row (a partial call at a quiet time) and the device batch bound, timed at the bound. Each
call goes through the model's ``warmup`` (neutral rows: all-missing features, flat weeks).

Worker-only (after the fork). Blocks for the calls (about a second on one core); raises
what a model raises.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from consumer.clock import Clock
from consumer.ensemble.pools import Pool

if TYPE_CHECKING:
    from consumer.models.registry import ModelSet


@dataclass(frozen=True)
class WarmShapes:
    """The row counts a worker's calls have: booster batches and PAT calls."""

    booster_rows: int
    pat_rows: int
    pat_extra_rows: tuple[int, ...] = ()  # other PAT call sizes to set up (untimed)


def warm_up(
    models: ModelSet, booster_pool: Pool, pat_pool: Pool, shapes: WarmShapes, clock: Clock
) -> float | None:
    """Call every model's ``warmup`` on its pool at its shapes; returns PAT's measured
    seconds per row (None without PAT). Blocks until done."""
    for rows in sorted({1, shapes.booster_rows}):
        for booster in models.boosters:
            booster_pool.submit(booster.warmup, rows).result()
    if models.pat is None:
        return None
    pat = models.pat
    for rows in (*shapes.pat_extra_rows, shapes.pat_rows):
        pat_pool.submit(pat.warmup, rows).result()  # lazy set-up at this shape

    def timed() -> float:
        started = clock.monotonic()
        pat.warmup(shapes.pat_rows)
        return clock.monotonic() - started

    return max(1e-6, pat_pool.submit(timed).result() / shapes.pat_rows)
