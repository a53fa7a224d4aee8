"""Export the contract as JSON Schema files beside this module (for producers in other languages).

Run ``python -m schemas.export`` after changing a model; a test fails when the files drift.
``python -m schemas.export --out DIR`` writes them to ``DIR`` instead (an installed package
carries them beside this module too).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Final

from pydantic import BaseModel

from schemas.events import Alert, FeatureEvent, Prediction
from schemas.samples import ActivitySamples

SCHEMA_DIR: Final = Path(__file__).resolve().parent
EXPORTED: Final[dict[str, type[BaseModel]]] = {
    "feature_event.v1.schema.json": FeatureEvent,
    "prediction.v1.schema.json": Prediction,
    "alert.v1.schema.json": Alert,
    "activity_samples.v1.schema.json": ActivitySamples,
}


def render(model: type[BaseModel]) -> str:
    """The JSON Schema text of one model, stable (sorted keys, trailing newline)."""
    schema = model.model_json_schema(mode="validation")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = f"https://moodstream.example/schemas/{model.__name__}.v1.json"
    return json.dumps(schema, indent=2, sort_keys=True) + "\n"


def export(directory: Path = SCHEMA_DIR) -> list[Path]:
    written = []
    for filename, model in EXPORTED.items():
        path = directory / filename
        path.write_text(render(model), encoding="utf-8")
        written.append(path)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m schemas.export", description=__doc__)
    parser.add_argument("--out", type=Path, default=SCHEMA_DIR, help="output directory")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    for path in export(args.out):
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
