"""`moodstream run` whose PAT never returns: ``python -m tests.integration.hung_service``.

Test-only entry point. It wraps the real, verified PAT of the models directory in a model
whose ``predict_batch`` blocks forever (after warm-up), then runs the real CLI, so the
supervisor, workers, Kafka clients and deadlines are all the production ones.
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np
import numpy.typing as npt

from tests.integration.wrapped_pat import WrappedPat, run_with_wrapped_pat


class NeverReturns(WrappedPat):
    def __init__(self, inner: Any) -> None:
        super().__init__(inner)
        self._never = threading.Event()

    def predict_batch(self, inputs: npt.NDArray[np.float32]) -> npt.NDArray[np.float64]:
        self._never.wait()
        raise AssertionError("unreachable")


def main() -> int:
    return run_with_wrapped_pat(NeverReturns, [])


if __name__ == "__main__":
    raise SystemExit(main())
