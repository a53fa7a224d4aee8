"""/metrics during a real run: every DESIGN.md §7 metric, with values matching what was sent;
the lag gauge and `moodstream lag` agree with the committed offsets."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.fakes import event_bytes
from tests.integration.harness import (
    Stream,
    moodstream,
    produce_raw,
    running_service,
    wait_for,
)

pytestmark = pytest.mark.integration
FEATURES_ONLY, WITH_ACTIVITY, INVALID = 12, 3, 2


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def total(
    metrics: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str
) -> float:
    wanted = set(labels.items())
    return sum(v for (n, ls), v in metrics.items() if n == name and wanted <= set(ls))


def test_metrics_match_what_was_sent_and_lag_agrees(stream: Stream, tmp_path: Path) -> None:
    env = stream.env(
        ENSEMBLE__SLOW_BUDGET_S=1e-6,
        ENSEMBLE__PAT_TIMEOUT_S=1e-6,
    )
    records = [(b"f", event_bytes(seed=i)) for i in range(FEATURES_ONLY)]
    records += [(b"a", event_bytes(seed=50 + i, activity=True)) for i in range(WITH_ACTIVITY)]
    records += [(b"x", b"{broken"), (b"y", b'{"schema_version": 1}')]
    produce_raw(stream.bootstrap, stream.topics.features, records)
    sent = len(records)

    before = json.loads(moodstream("lag", "--json", env=env).stdout)
    assert before["total_lag"] == sent and before["group"] == stream.group
    assert all(p["committed"] is None for p in before["partitions"])

    predictions = stream.reader(stream.topics.predictions)
    with running_service(env, tmp_path, "--workers", "2") as service:
        predictions.wait_count(FEATURES_ONLY + WITH_ACTIVITY, timeout_s=120)

        def caught_up() -> bool:
            lag = json.loads(moodstream("lag", "--json", env=env).stdout)
            metrics = samples(service.get("/metrics")[1])
            gauge = [v for (n, _), v in metrics.items() if n == "moodstream_consumer_lag"]
            return lag["total_lag"] == 0 and len(gauge) == 6 and sum(gauge) == 0

        wait_for(caught_up, 60, "lag gauge and `moodstream lag` never agreed on 0")
        after = json.loads(moodstream("lag", "--json", env=env).stdout)
        assert sum(p["committed"] or 0 for p in after["partitions"]) == sent
        assert all((p["committed"] or 0) == p["end"] for p in after["partitions"])
        metrics = samples(service.get("/metrics")[1])
        assert service.stop() == 0

    scored = FEATURES_ONLY + WITH_ACTIVITY
    assert total(metrics, "moodstream_events_consumed_total") == sent
    assert total(metrics, "moodstream_events_invalid_total") == INVALID
    assert total(metrics, "moodstream_events_invalid_total", reason="invalid_json") == 1
    assert total(metrics, "moodstream_events_invalid_total", reason="missing_field") == 1
    assert (
        total(metrics, "moodstream_predictions_published_total", partial="false") == FEATURES_ONLY
    )
    assert total(metrics, "moodstream_predictions_published_total", partial="true") == WITH_ACTIVITY
    assert total(metrics, "moodstream_alerts_published_total", kind="slow_prediction") == scored
    assert (
        total(metrics, "moodstream_alerts_published_total", kind="model_timeout") == WITH_ACTIVITY
    )
    assert total(metrics, "moodstream_model_timeouts_total", model="pat") >= 1
    assert total(metrics, "moodstream_model_latency_seconds_count", model="depression") >= 1
    assert total(metrics, "moodstream_prediction_latency_seconds_count") == scored
    assert total(metrics, "moodstream_batch_size_sum") == sent
    assert total(metrics, "moodstream_inflight_events") == 0
    assert ("moodstream_worker_restarts_total", ()) in metrics
    models = {
        dict(ls)["model"]
        for (n, ls), v in metrics.items()
        if n == "moodstream_model_info" and v == 1
    }
    assert models == {"depression", "hypomania", "mania", "pat"}
    assert total(metrics, "moodstream_worker_resident_memory_bytes") > 100 * 2**20
    predictions.close()
