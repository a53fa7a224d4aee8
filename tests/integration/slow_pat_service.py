"""`moodstream run` whose PAT turns N times slower after a number of calls:
``python -m tests.integration.slow_pat_service``.

Test-only entry point, like ``hung_service``: the real, verified PAT of the models
directory, wrapped so that from call ``TEST_SLOW_PAT_AFTER_CALLS`` on each call
takes ``TEST_SLOW_PAT_FACTOR`` times as long as the real one (it runs the real model,
then sleeps the difference). Everything else is the production CLI.
"""

from __future__ import annotations

import os
import threading
import time
from typing import Any

import numpy as np
import numpy.typing as npt

from tests.integration.wrapped_pat import WrappedPat, run_with_wrapped_pat


class TurnsSlow(WrappedPat):
    def __init__(self, inner: Any, after_calls: int, factor: float) -> None:
        super().__init__(inner)
        self._after_calls = after_calls
        self._factor = factor
        self._calls = 0
        self._pause = threading.Event()  # never set: an interruptible sleep

    def predict_batch(self, inputs: npt.NDArray[np.float32]) -> npt.NDArray[np.float64]:
        started = time.monotonic()
        scores: npt.NDArray[np.float64] = self._inner.predict_batch(inputs)
        self._calls += 1
        if self._calls > self._after_calls:
            self._pause.wait((self._factor - 1.0) * (time.monotonic() - started))
        return scores


def main() -> int:
    after_calls = int(os.environ["TEST_SLOW_PAT_AFTER_CALLS"])
    factor = float(os.environ["TEST_SLOW_PAT_FACTOR"])
    return run_with_wrapped_pat(lambda pat: TurnsSlow(pat, after_calls, factor), [])


if __name__ == "__main__":
    raise SystemExit(main())
