"""`moodstream run` whose PAT turns N times slower after a number of calls:
``python -m tests.integration.slow_pat_service``.

Test-only entry point, like ``hung_service``: the real, verified PAT of the models
directory, wrapped so that from call ``TEST_SLOW_PAT_AFTER_CALLS`` on each call
takes ``TEST_SLOW_PAT_FACTOR`` times as long as the real one (it runs the real model,
then sleeps the difference). Everything else is the production CLI.
"""

from __future__ import annotations

import dataclasses
import os
import threading
import time
from typing import Any

import numpy as np
import numpy.typing as npt

from consumer import cli
from consumer.models import registry
from consumer.settings import ModelSettings


class TurnsSlow:
    def __init__(self, inner: Any, after_calls: int, factor: float) -> None:
        self._inner = inner
        self._after_calls = after_calls
        self._factor = factor
        self._calls = 0
        self._pause = threading.Event()  # never set: an interruptible sleep

    name = property(lambda self: self._inner.name)
    kind = property(lambda self: self._inner.kind)
    version = property(lambda self: self._inner.version)

    def warmup(self) -> None:
        self._inner.warmup()

    def predict_batch(self, inputs: npt.NDArray[np.float32]) -> npt.NDArray[np.float64]:
        started = time.monotonic()
        scores: npt.NDArray[np.float64] = self._inner.predict_batch(inputs)
        self._calls += 1
        if self._calls > self._after_calls:
            self._pause.wait((self._factor - 1.0) * (time.monotonic() - started))
        return scores


def main() -> int:
    real_load = registry.load_model_set
    after_calls = int(os.environ["TEST_SLOW_PAT_AFTER_CALLS"])
    factor = float(os.environ["TEST_SLOW_PAT_FACTOR"])

    def load_with_slow_pat(settings: ModelSettings) -> registry.ModelSet:
        models = real_load(settings)
        assert models.pat is not None, "this test needs a models dir with PAT"
        return dataclasses.replace(models, pat=TurnsSlow(models.pat, after_calls, factor))

    registry.load_model_set = load_with_slow_pat  # type: ignore[assignment]
    return cli.main(["run"])


if __name__ == "__main__":
    raise SystemExit(main())
