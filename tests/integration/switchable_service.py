"""`moodstream run` whose PAT a test can switch between behaviours, for the live
Prometheus test: ``python -m tests.integration.switchable_service CONTROL_FILE [run args]``.

Test-only entry point (like ``hung_service``): the real verified PAT of the models
directory is wrapped, then the real CLI runs, so the supervisor, workers, Kafka clients,
deadlines and metrics are all the production ones. Before each call the wrapper reads
``CONTROL_FILE``:

- ``real`` (or missing/empty): the real PAT;
- ``hang``: block until the file says something else (the call then runs as told; its
  late result is dropped by the ensemble like any late result);
- ``slow SECONDS``: sleep, then return 0.5 for every row (a model slower than the
  input rate, so a backlog builds up while every call still meets its deadline);
- ``fast``: return 0.5 for every row at once (drains a backlog without PAT's CPU cost).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from tests.integration.wrapped_pat import WrappedPat, run_with_wrapped_pat

POLL_S = 0.05


class Switchable(WrappedPat):
    def __init__(self, inner: Any, control: Path) -> None:
        super().__init__(inner)
        self._control = control

    def _mode(self) -> list[str]:
        try:
            return self._control.read_text(encoding="utf-8").split() or ["real"]
        except FileNotFoundError:
            return ["real"]

    def predict_batch(self, inputs: npt.NDArray[np.float32]) -> npt.NDArray[np.float64]:
        mode = self._mode()
        while mode[0] == "hang":
            time.sleep(POLL_S)
            mode = self._mode()
        if mode[0] == "slow":
            time.sleep(float(mode[1]))
        if mode[0] in ("slow", "fast"):
            return np.full(len(inputs), 0.5)
        return np.asarray(self._inner.predict_batch(inputs), dtype=np.float64)


def main(argv: list[str]) -> int:
    control = Path(argv[0])
    return run_with_wrapped_pat(lambda pat: Switchable(pat, control), argv[1:])


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
