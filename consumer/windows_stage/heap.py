"""Give the C heap's free memory back to the system after the windows stage's batches.

A batch of day-sized records allocates and frees tens of megabytes in pieces of 5-40 KB
(records, a week's arrays and JSON, encoded days), below glibc's mmap threshold: freed,
they stay in the process's heap, so a worker's RSS after a backfill of 2,000 users stood
40-80 MB above what it holds, and moved by 30 MB from run to run. ``malloc_trim(0)``
returns those pages (about 2 ms a call here). ``HeapTrim`` calls it after a batch that
read at least ``MIN_BYTES`` of input, or when ``INTERVAL_S`` has passed since the last
call; a no-op where the C library has no ``malloc_trim`` (not glibc). Not thread-safe:
the poll loop's thread only; never raises.
"""

from __future__ import annotations

import ctypes
import ctypes.util
from collections.abc import Callable
from typing import Final

#: A batch with at least this much input is followed by a trim (a day-sized backfill's).
MIN_BYTES: Final = 1 << 20
#: Smaller batches (one-minute records) are followed by one at most this often.
INTERVAL_S: Final = 1.0


def glibc_trim() -> Callable[[], object] | None:
    """glibc's ``malloc_trim(0)`` as a call, or None when the C library has none."""
    name = ctypes.util.find_library("c")
    try:
        trim = ctypes.CDLL(name).malloc_trim if name else None
    except (OSError, AttributeError):
        return None
    if trim is None:
        return None
    return lambda: trim(0)


class HeapTrim:
    """Decides when to trim (see the module doc); ``trim`` None: never."""

    def __init__(self, trim: Callable[[], object] | None, now_s: float) -> None:
        self._trim = trim
        self._last_s = now_s
        self.calls = 0

    def after_batch(self, input_bytes: int, now_s: float) -> None:
        """A batch was published: trim when it was large or the last trim is old."""
        if self._trim is None:
            return
        if input_bytes < MIN_BYTES and now_s - self._last_s < INTERVAL_S:
            return
        self._trim()
        self._last_s = now_s
        self.calls += 1
