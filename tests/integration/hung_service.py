"""`moodstream run` whose PAT never returns: ``python -m tests.integration.hung_service``.

Test-only entry point. It wraps the real, verified PAT of the models directory in a model
whose ``predict_batch`` blocks forever (after warm-up), then runs the real CLI, so the
supervisor, workers, Kafka clients and deadlines are all the production ones.
"""

from __future__ import annotations

import dataclasses
import threading
from typing import Any

import numpy as np
import numpy.typing as npt

from consumer import cli
from consumer.models import registry
from consumer.settings import ModelSettings


class NeverReturns:
    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self._never = threading.Event()

    name = property(lambda self: self._inner.name)
    kind = property(lambda self: self._inner.kind)
    version = property(lambda self: self._inner.version)

    def warmup(self) -> None:
        self._inner.warmup()

    def predict_batch(self, inputs: npt.NDArray[np.float32]) -> npt.NDArray[np.float64]:
        self._never.wait()
        raise AssertionError("unreachable")


def main() -> int:
    real_load = registry.load_model_set

    def load_with_hung_pat(settings: ModelSettings) -> registry.ModelSet:
        models = real_load(settings)
        assert models.pat is not None, "this test needs a models dir with PAT"
        return dataclasses.replace(models, pat=NeverReturns(models.pat))

    registry.load_model_set = load_with_hung_pat  # type: ignore[assignment]
    return cli.main(["run"])


if __name__ == "__main__":
    raise SystemExit(main())
