"""``moodstream score``'s offline settings: no deadline to keep, no event too old."""

from __future__ import annotations

from pathlib import Path

from consumer.commands.score import offline_settings
from consumer.settings import EnsembleSettings, Settings


def test_offline_settings_keep_no_deadline() -> None:
    settings = Settings(ensemble=EnsembleSettings(pat_max_event_age_s=60, pat_timeout_s=2))
    relaxed = offline_settings(settings, Path("/m")).ensemble
    assert relaxed.pat_max_event_age_s is None and relaxed.pat_timeout_s >= 600
    assert relaxed.xgboost_timeout_s >= 600 and relaxed.slowdown_factor >= 1e9
    assert offline_settings(settings, Path("/m")).models.dir == Path("/m")
    assert offline_settings(settings, None).models.dir == settings.models.dir
