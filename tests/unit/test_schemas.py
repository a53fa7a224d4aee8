from __future__ import annotations

import types

import schemas
from schemas.export import EXPORTED, SCHEMA_DIR, render


def test_public_api_is_exactly_all() -> None:
    public = {
        name
        for name, value in vars(schemas).items()
        if not name.startswith("_") and not isinstance(value, types.ModuleType)
    }
    assert public == set(schemas.__all__)


def test_json_schema_files_match_the_models() -> None:
    for filename, model in EXPORTED.items():
        on_disk = (SCHEMA_DIR / filename).read_text(encoding="utf-8")
        assert on_disk == render(model), f"{filename} drifted: run `python -m schemas.export`"


def test_feature_names_follow_published_order() -> None:
    names = schemas.FEATURE_NAMES
    assert len(names) == 36 and len(set(names)) == 36
    assert names[:4] == ("ST_long_MN", "ST_long_SD", "ST_long_Zscore", "ST_short_MN")
    assert names[-1] == "Circadian_amplitude_Zscore"
