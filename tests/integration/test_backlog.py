"""Backlogs cost time, never scores (issue 10): a single worker started after a backlog
was produced scores every event completely, PAT included; a PAT that turns 20x slower
mid-run gets timeouts on time while the boosters' predictions keep flowing.

Each test prints its drain time and events/s against the PAT limit (the worker's own
seconds-per-sequence estimate, read from /metrics), on this machine.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from consumer.settings import TopicSettings
from tests.fakes import event_bytes
from tests.integration.harness import (
    TopicReader,
    produce_raw,
    running_service,
    service_env,
)


def drain_backlog(
    bootstrap: str,
    topics: TopicSettings,
    group: str,
    tmp_path: Path,
    events: list[tuple[bytes, bytes]],
) -> tuple[list[dict[str, Any]], float]:
    """Produce ``events``, then start one worker and read every prediction. Returns the
    predictions and the drain time (ready to the last prediction read)."""
    produce_raw(bootstrap, topics.features, events)
    predictions = TopicReader(bootstrap, topics.predictions)
    env = service_env(bootstrap, topics, group)
    with running_service(env, tmp_path, "--workers", "1") as service:
        service.wait_ready()
        started = time.monotonic()
        predictions.wait_count(len(events), timeout_s=600)
        drain_s = time.monotonic() - started
        assert service.stop() == 0, service.logs()[-2000:]
    values = predictions.values()
    predictions.close()
    return values, drain_s


def report(name: str, values: list[dict[str, Any]], drain_s: float) -> None:
    """Drain rate against the PAT limit: PAT's own sequences per second while it ran (the
    calls' latencies, one per call, shared by the call's events) over the drain."""
    pat_runs = {
        v["models"]["pat"]["latency_ms"] for v in values if v["models"]["pat"]["status"] == "ok"
    }
    pat_count = sum(1 for v in values if v["models"]["pat"]["status"] == "ok")
    busy_s = sum(pat_runs) / 1000.0
    limit = pat_count / busy_s if busy_s else float("nan")
    pat_rate = pat_count / drain_s
    print(
        f"\n[{name}] {len(values)} events ({pat_count} scored by PAT) drained in {drain_s:.1f} s:"
        f" {len(values) / drain_s:.1f} events/s, {pat_rate:.1f} PAT seq/s; PAT limit "
        f"{limit:.1f} seq/s ({len(pat_runs)} calls); drain / limit {pat_rate / limit:.2f}"
    )


def test_activity_only_backlog_is_scored_completely(
    kafka_bootstrap: str, unique_topics: TopicSettings, unique_group: str, tmp_path: Path
) -> None:
    events = [
        (f"u{i}".encode(), event_bytes(seed=i, features=False, activity=True)) for i in range(600)
    ]
    values, drain_s = drain_backlog(kafka_bootstrap, unique_topics, unique_group, tmp_path, events)
    assert len({v["event_id"] for v in values}) == 600
    partial = [v for v in values if v["partial"]]
    assert partial == [], f"{len(partial)} partial, e.g. {partial[:1]}"
    assert all(v["current_depression"] is not None for v in values)
    report("activity-only backlog", values, drain_s)


def test_mixed_backlog_half_activity_is_scored_completely(
    kafka_bootstrap: str, unique_topics: TopicSettings, unique_group: str, tmp_path: Path
) -> None:
    events = [
        (f"u{i % 250}".encode(), event_bytes(seed=i, activity=i % 2 == 0)) for i in range(1000)
    ]
    values, drain_s = drain_backlog(kafka_bootstrap, unique_topics, unique_group, tmp_path, events)
    assert len({v["event_id"] for v in values}) == 1000
    assert [v for v in values if v["partial"]] == []
    with_pat = [v for v in values if v["models"]["pat"]["status"] == "ok"]
    assert len(with_pat) == 500 and all(v["current_depression"] is not None for v in with_pat)
    report("mixed backlog, 50 % activity", values, drain_s)


def test_pat_turning_20x_slower_times_out_on_time_and_boosters_keep_flowing(
    kafka_bootstrap: str, unique_topics: TopicSettings, unique_group: str, tmp_path: Path
) -> None:
    timeout_s = 2.0
    env = service_env(  # calls of 4 sequences: 20x slower is seconds, past the 2 s timeout
        kafka_bootstrap,
        unique_topics,
        unique_group,
        ENSEMBLE__PAT_TIMEOUT_S=timeout_s,
        MODELS__PAT_SUB_BATCH_SIZE=4,
    )
    env |= {"TEST_SLOW_PAT_AFTER_CALLS": "5", "TEST_SLOW_PAT_FACTOR": "20"}
    healthy = [(b"h", event_bytes(seed=i, activity=True)) for i in range(8)]  # 2 calls of 4
    sick = [(b"s", event_bytes(seed=100 + i, activity=True)) for i in range(40)]
    features = [(b"f", event_bytes(seed=200 + i)) for i in range(40)]
    predictions = TopicReader(kafka_bootstrap, unique_topics.predictions)
    alerts = TopicReader(kafka_bootstrap, unique_topics.alerts)
    with running_service(env, tmp_path, module="tests.integration.slow_pat_service") as service:
        service.wait_ready()
        produce_raw(kafka_bootstrap, unique_topics.features, healthy)
        predictions.wait_count(8, timeout_s=60)
        produce_raw(kafka_bootstrap, unique_topics.features, sick + features)
        predictions.wait_count(88, timeout_s=120)
        alerts.wait_count(1, timeout_s=30)
        assert service.process.poll() is None
        assert service.stop() == 0, service.logs()[-2000:]
    by_id = {v["event_id"]: v for v in predictions.values()}
    first = [by_id[str(_id(i))] for i in range(8)]
    assert all(not p["partial"] for p in first)
    late = [by_id[str(_id(100 + i))] for i in range(40)]
    timed_out = [p for p in late if p["models"]["pat"]["status"] == "timeout"]
    assert timed_out, "a PAT 20x slower than its own speed must miss its deadline"
    budget_ms = timeout_s * 1000.0
    # A call that ran past its deadline reports how long it ran (noticed within a few ms;
    # 2 busy cores); the rows queued behind it are answered at once, never run (null).
    ran = [p["models"]["pat"]["latency_ms"] for p in timed_out]
    assert any(ms is not None for ms in ran)
    assert all(budget_ms <= ms <= budget_ms * 1.5 for ms in ran if ms is not None)
    assert all(p["models"]["depression"]["status"] == "ok" for p in late)
    only_features = [by_id[str(_id(200 + i))] for i in range(40)]
    assert all(
        not p["partial"] and p["next_day_risk"]["depression"] is not None for p in only_features
    )
    kinds = {(a["kind"], a["model"]) for a in alerts.values()}
    assert ("model_timeout", "pat") in kinds
    print(
        f"\n[PAT 20x slower] {len(timed_out)} of 40 PAT timeouts, "
        f"features-only p50 latency {sorted(p['latency_ms'] for p in only_features)[20]:.0f} ms"
    )
    predictions.close()
    alerts.close()


def _id(seed: int) -> object:
    import uuid

    return uuid.UUID(int=seed + 1)
