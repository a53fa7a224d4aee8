"""The child side of PAT's calibration: a fresh interpreter that loads every runtime asked
for, scores the calibration weeks and prints the figures as JSON on stdout (or, with
``--probe-cuda``, what it sees of CUDA)
(:func:`consumer.models.pat_calibrate.calibrate_in_subprocess` reads them). Its own module,
so that :mod:`consumer.models.pat_calibrate` (pure measuring and choosing) never imports
:mod:`consumer.models.pat_runtime` (which builds runtimes and calls the calibration).
"""

from __future__ import annotations

import json
import sys

from consumer.errors import ModelLoadError
from consumer.models.pat_calibrate import (
    REFERENCE,
    calibration_weeks,
    figures_json,
    measure,
)
from consumer.models.pat_runtime import load_pat_runtimes
from consumer.models.threads import apply_thread_caps
from consumer.settings import ModelSettings


def _probe_cuda() -> dict[str, int | str | None]:
    """Whether torch sees a CUDA device here (this initialises CUDA in this child only)."""
    import torch

    if not torch.cuda.is_available():
        built = torch.version.cuda
        why = (
            f"torch {torch.__version__} is built without CUDA"
            if built is None
            else f"torch is built for CUDA {built} but sees no device (no driver or no GPU)"
        )
        return {"devices": 0, "name": None, "reason": why}
    count = torch.cuda.device_count()
    return {"devices": count, "name": torch.cuda.get_device_name(0), "reason": "ok"}


def _main(argv: list[str]) -> int:
    """``python -m consumer.models.pat_calibrate_child SETTINGS_JSON RUNTIME...``, or
    ``--probe-cuda``."""
    if argv == ["--probe-cuda"]:
        print(json.dumps(_probe_cuda()))
        return 0
    settings = ModelSettings.model_validate_json(argv[0])
    apply_thread_caps(settings)
    wanted = [REFERENCE, *(r for r in argv[1:] if r != REFERENCE)]
    models = load_pat_runtimes(settings, wanted)
    weeks = calibration_weeks(settings.pat_calibration_weeks)
    predicts = {k: m.predict_batch for k, m in models.items()}
    figures = measure(predicts, weeks, settings.pat_max_error)
    print(json.dumps(figures_json(figures)))
    return 0


if __name__ == "__main__":
    try:
        sys.exit(_main(sys.argv[1:]))
    except ModelLoadError as exc:
        print(f"moodstream: {exc}", file=sys.stderr)
        sys.exit(2)
