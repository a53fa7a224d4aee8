"""The windows worker gives its heap's free memory back after batches (``heap``)."""

from __future__ import annotations

import sys

import pytest

from consumer.windows_stage.heap import INTERVAL_S, MIN_BYTES, HeapTrim, glibc_trim


def test_a_large_batch_or_an_old_trim_gives_the_free_memory_back() -> None:
    calls: list[int] = []
    heap = HeapTrim(lambda: calls.append(1), now_s=100.0)
    heap.after_batch(MIN_BYTES, 100.1)  # a day-sized backfill's batch: at once
    assert heap.calls == 1
    heap.after_batch(MIN_BYTES // 10, 100.2)  # small and recent: not yet
    heap.after_batch(MIN_BYTES // 10, 100.1 + INTERVAL_S - 0.01)
    assert heap.calls == 1
    heap.after_batch(100, 100.1 + INTERVAL_S)  # the last one is old enough
    assert heap.calls == 2 and len(calls) == 2


def test_without_malloc_trim_nothing_is_called() -> None:
    heap = HeapTrim(None, now_s=0.0)
    heap.after_batch(MIN_BYTES * 8, 10.0)
    assert heap.calls == 0


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc_trim")
def test_glibc_s_trim_can_be_called_here() -> None:
    trim = glibc_trim()
    assert trim is not None and trim() in (0, 1)
