"""Shared parts of the test-only service entry points (``hung_service``,
``slow_pat_service``, ``switchable_service``): a wrapper around the real, verified PAT of
the models directory, and ``run_with_wrapped_pat``, which runs the real CLI with the PAT
replaced by such a wrapper. Everything else is the production service.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from consumer import cli
from consumer.models import registry
from consumer.settings import ModelSettings


class WrappedPat:
    """Passes name, kind, version, device and warm-up through to the real PAT; a subclass defines
    ``predict_batch``."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    name = property(lambda self: self._inner.name)
    kind = property(lambda self: self._inner.kind)
    version = property(lambda self: self._inner.version)
    device = property(lambda self: self._inner.device)

    def warmup(self, rows: int = 1) -> None:
        self._inner.warmup(rows)


def run_with_wrapped_pat(wrap: Callable[[Any], WrappedPat], run_args: list[str]) -> int:
    """``moodstream run <run_args>`` in this process, with ``registry.load_model_set``
    swapped for one that wraps the loaded PAT in ``wrap(pat)``. Blocks until the service
    exits; returns its exit code. The models dir must have a PAT (AssertionError if not).
    """
    real_load = registry.load_model_set

    def load_with_wrapped_pat(settings: ModelSettings) -> registry.ModelSet:
        models = real_load(settings)
        assert models.pat is not None, "this test needs a models dir with PAT"
        return dataclasses.replace(models, pat=wrap(models.pat))  # type: ignore[arg-type]

    registry.load_model_set = load_with_wrapped_pat
    return cli.main(["run", *run_args])
