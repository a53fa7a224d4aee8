"""docs/models.md stays true to the code: every manifest field, feature measure and
prediction field about the model set is described there, and the README links it."""

from __future__ import annotations

from pathlib import Path

from consumer.models.manifest import EnsembleWeights, Manifest, ManifestEntry
from schemas import Prediction
from schemas.events import FEATURE_BASES, FEATURE_SUFFIXES

REPO = Path(__file__).resolve().parents[3]
DOC = (REPO / "docs" / "models.md").read_text(encoding="utf-8")


def test_every_manifest_field_is_described() -> None:
    entry_fields = [f"`models[].{name}" for name in ManifestEntry.model_fields]
    top = [f"`{name}`" for name in (*Manifest.model_fields, *EnsembleWeights.model_fields)]
    assert [f for f in (*entry_fields, *top) if f not in DOC] == []


def test_every_feature_measure_and_suffix_is_described() -> None:
    assert [f"`{base}`" for base in FEATURE_BASES if f"| `{base}` |" not in DOC] == []
    assert all(f"`{suffix}`" in DOC for suffix in FEATURE_SUFFIXES)


def test_the_prediction_fields_about_the_models_are_described() -> None:
    fields = ("clinically_valid", "model_set", "pat_runtime", "ensemble_rule")
    assert all(name in Prediction.model_fields for name in fields)
    assert [name for name in fields if f"| `{name}` |" not in DOC] == []


def test_the_readme_links_it() -> None:
    assert "(docs/models.md)" in (REPO / "README.md").read_text(encoding="utf-8")
