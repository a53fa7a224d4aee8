"""The ensemble over the real broker: features only, activity only, and both."""

from __future__ import annotations

from pathlib import Path

import pytest

from consumer.settings import TopicSettings
from tests.fakes import event_bytes
from tests.integration.harness import TopicReader, produce_raw, running_service, service_env

pytestmark = pytest.mark.integration


def test_statuses_and_nulls_follow_the_inputs_present(
    kafka_bootstrap: str, unique_topics: TopicSettings, unique_group: str, tmp_path: Path
) -> None:
    kinds = {
        "features": event_bytes(seed=1),
        "activity": event_bytes(seed=2, features=False, activity=True),
        "both": event_bytes(seed=3, activity=True),
    }
    produce_raw(
        kafka_bootstrap, unique_topics.features, [(k.encode(), v) for k, v in kinds.items()]
    )
    predictions = TopicReader(kafka_bootstrap, unique_topics.predictions)
    with running_service(
        service_env(kafka_bootstrap, unique_topics, unique_group), tmp_path
    ) as svc:
        predictions.wait_count(3, timeout_s=120)
        assert svc.stop() == 0
    by_user = {p["user_id"]: p for p in predictions.values()}
    features, activity, both = by_user["user-1"], by_user["user-2"], by_user["user-3"]
    boosters = ("depression", "hypomania", "mania")

    assert all(features["models"][m]["status"] == "ok" for m in boosters)
    assert (
        features["models"]["pat"]["status"] == "skipped" and features["current_depression"] is None
    )
    assert features["ensemble_depression"] == features["next_day_risk"]["depression"]

    assert activity["models"]["pat"]["status"] == "ok" and 0 <= activity["current_depression"] <= 1
    assert all(activity["models"][m]["status"] == "skipped" for m in boosters)
    assert activity["next_day_risk"] == {"depression": None, "hypomania": None, "mania": None}
    assert activity["ensemble_depression"] == activity["current_depression"]

    assert all(both["models"][m]["status"] == "ok" for m in (*boosters, "pat"))
    expected = 0.6 * both["next_day_risk"]["depression"] + 0.4 * both["current_depression"]
    assert both["ensemble_depression"] == pytest.approx(expected)
    assert not any(p["partial"] for p in (features, activity, both))
    assert all(p["clinically_valid"] is False for p in (features, activity, both))
    predictions.close()
