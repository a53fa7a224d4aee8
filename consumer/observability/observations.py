"""A histogram's observations gathered during one poll and written to it at once.

``Histogram.observe`` writes two values per observation (its sum and one bucket); under
the multiprocess mode each write is a locked store into a shared-memory file, and with one
latency observed per event that was 4-5 % of the poll loop's CPU. Gathered, the same
observations cost one write for the sum and one per bucket touched. The bucket counts,
and so ``_count``, are exactly those of one ``observe`` per value; the sum is added as one
float (equal but for rounding in its last bits). Reads prometheus_client's own layout of a
histogram (``_upper_bounds``, ``_buckets``, ``_sum``: the locked version's;
tests/unit/observability/test_observations.py compares with ``observe``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from prometheus_client import Histogram


class PendingObservations:
    """Observations of one unlabelled histogram, written by ``flush``. Not thread-safe."""

    def __init__(self, histogram: Histogram) -> None:
        self._histogram = histogram
        self._bounds: tuple[float, ...] = tuple(histogram._upper_bounds)  # ends with +Inf
        self._counts = [0] * len(self._bounds)
        self._sum = 0.0
        self._pending = False

    def add_all(self, values: list[float]) -> None:
        """Observations, held until ``flush``: each counted in the first bucket whose bound
        is >= it (found by one numpy search for them all), as ``observe`` does; NaN in
        none. Does not block."""
        if not values:
            return
        total = self._sum
        for value in values:  # in order, as one ``observe`` per value adds them
            total += value
        self._sum, self._pending = total, True
        bounds = self._bounds
        found = np.searchsorted(np.asarray(bounds), np.asarray(values, dtype=np.float64))
        counts = np.bincount(found, minlength=len(bounds) + 1)  # NaN: past the last bound
        for index, count in enumerate(counts[: len(bounds)].tolist()):
            if count:
                self._counts[index] += count

    def flush(self) -> None:
        """Write what ``add`` gathered to the histogram (nothing when nothing came).
        Does not block beyond prometheus_client's own lock."""
        if not self._pending:
            return
        histogram, counts = self._histogram, self._counts
        histogram._sum.inc(self._sum)
        for index, count in enumerate(counts):
            if count:
                histogram._buckets[index].inc(count)
                counts[index] = 0
        self._sum = 0.0
        self._pending = False
