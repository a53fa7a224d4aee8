"""Metrics, health aggregation, the thread-free HTTP endpoint, and the lag arithmetic."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import TopicPartition
from prometheus_client import CollectorRegistry

from consumer.commands.lag import format_table
from consumer.engine.batch_records import SourceResult
from consumer.engine.recorder import Recorder
from consumer.kafka.lag import (
    LagReport,
    Member,
    PartitionLag,
    compute_lag,
)
from consumer.observability import (
    HEALTHZ_PATH,
    METRICS_PATH,
    READYZ_PATH,
    HealthReporter,
    HealthView,
    Metrics,
    MetricsServer,
    health_file,
    metric_sample_names,
    process_pss_bytes,
    process_rss_bytes,
)
from consumer.observability.lag_gauge import reset_lag_gauge, update_lag_gauge
from consumer.observability.metrics import MAX_FIELD_LABELS
from tests.fakes import FakeClock
from tests.fakes.kafka import FakeConsumer

DESIGN_METRICS = {
    "moodstream_events_consumed_total",
    "moodstream_events_invalid_total",
    "moodstream_predictions_published_total",
    "moodstream_alerts_published_total",
    "moodstream_model_latency_seconds_bucket",
    "moodstream_prediction_latency_seconds_bucket",
    "moodstream_model_timeouts_total",
    "moodstream_batch_size_bucket",
    "moodstream_consumer_lag",
    "moodstream_inflight_events",
    "moodstream_worker_restarts_total",
    "moodstream_model_info",
}


def sample(registry: CollectorRegistry, name: str, **labels: str) -> float | None:
    return registry.get_sample_value(name, labels)


# --- metrics ---------------------------------------------------------------------------


def test_design_metric_names_exist() -> None:
    names = metric_sample_names(_registry_with_metrics()[0])
    assert names >= DESIGN_METRICS


def test_metrics_have_the_documented_labels() -> None:
    registry, m = _registry_with_metrics()
    m.events_invalid.labels(reason="schema").inc()
    m.predictions_published.labels(partial="true").inc(2)
    m.model_latency.labels(model="xgboost").observe(0.02)
    m.consumer_lag.labels(topic="t", partition="3").set(7)
    m.set_model_info("pat", "1.0")
    assert sample(registry, "moodstream_events_invalid_total", reason="schema") == 1
    assert sample(registry, "moodstream_predictions_published_total", partial="true") == 2
    assert sample(registry, "moodstream_predictions_published_total", partial="false") == 0
    assert sample(registry, "moodstream_alerts_published_total", kind="model_timeout") == 0
    assert (
        sample(registry, "moodstream_model_latency_seconds_bucket", model="xgboost", le="0.025")
        == 1
    )
    assert sample(registry, "moodstream_consumer_lag", topic="t", partition="3") == 7
    assert sample(registry, "moodstream_model_info", model="pat", version="1.0") == 1
    assert sample(registry, "moodstream_build_info", version="0.1.0") == 1


def test_known_label_values_exist_at_zero_before_anything_happens() -> None:
    from consumer.intake.decode import REASONS
    from consumer.observability.metrics import ALERT_KINDS, OVERFLOW_REASONS
    from schemas.events import AlertKind

    assert set(ALERT_KINDS) == {k.value for k in AlertKind}
    registry = CollectorRegistry()
    Metrics(registry, models=("depression", "pat"))
    zeros = {
        "moodstream_events_invalid_total": [{"reason": r} for r in REASONS],
        "moodstream_events_overflow_total": [{"reason": r} for r in OVERFLOW_REASONS],
        "moodstream_predictions_published_total": [{"partial": p} for p in ("true", "false")],
        "moodstream_alerts_published_total": [{"kind": k} for k in ALERT_KINDS],
        "moodstream_model_timeouts_total": [{"model": "depression"}, {"model": "pat"}],
        "moodstream_model_failures_total": [{"model": "depression"}, {"model": "pat"}],
        "moodstream_model_latency_seconds_count": [{"model": "depression"}, {"model": "pat"}],
        "moodstream_model_latency_seconds_bucket": [{"model": "pat", "le": "+Inf"}],
    }
    for name, label_sets in zeros.items():
        for labels in label_sets:
            assert registry.get_sample_value(name, labels) == 0, (name, labels)
    assert len(REASONS) == 18  # 11 of JSON decoding, 5 of Schema Registry input, 2 of keys
    # no model named, no per-model series (a label value nobody uses would be noise)
    bare = CollectorRegistry()
    Metrics(bare)
    assert bare.get_sample_value("moodstream_model_timeouts_total", {"model": "pat"}) is None


def test_latency_buckets_span_1ms_to_10s_with_1s_exact() -> None:
    registry, m = _registry_with_metrics()
    m.prediction_latency.observe(0.5)
    for le in ("0.001", "1.0", "10.0"):
        assert sample(registry, "moodstream_prediction_latency_seconds_bucket", le=le) is not None


def test_each_registry_is_independent() -> None:
    first, m1 = _registry_with_metrics()
    second, _ = _registry_with_metrics()
    m1.events_consumed.inc(5)
    assert sample(first, "moodstream_events_consumed_total") == 5
    assert sample(second, "moodstream_events_consumed_total") == 0


def test_package_import_does_not_import_prometheus_client() -> None:
    code = (
        "import sys, consumer.observability, consumer.logs, consumer.commands.lag; "
        "sys.exit('prometheus_client' in sys.modules)"
    )
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


def test_multiprocess_mode_aggregates_forked_workers(tmp_path: Path) -> None:
    """A real fork in a child interpreter (multiprocess mode is process-global)."""
    script = textwrap.dedent(f"""
        import os, sys
        from pathlib import Path
        from consumer.observability import (Metrics, enable_multiprocess, mark_worker_dead,
                                            multiprocess_registry_factory)
        d = Path({str(tmp_path / "prom")!r})
        (d).mkdir(); (d / "stale.db").write_bytes(b"x")
        enable_multiprocess(d)
        from prometheus_client import CollectorRegistry
        sup = Metrics(CollectorRegistry()); sup.worker_restarts.inc()
        pids = []
        for i in range(2):
            pid = os.fork()
            if pid == 0:
                m = Metrics(CollectorRegistry(), models=["pat"])
                m.events_consumed.inc(3); m.inflight_events.set(5)
                if i == 0:
                    m.model_timeouts.labels(model="pat").inc()
                m.consumer_lag.labels(topic="t", partition=str(i)).set(10 + i)
                os._exit(0)
            os.waitpid(pid, 0); pids.append(pid)
        scrape = multiprocess_registry_factory(d)
        r = scrape()
        get = r.get_sample_value
        assert get("moodstream_events_consumed_total") == 6, get("moodstream_events_consumed_total")
        assert get("moodstream_worker_restarts_total") == 1
        assert get("moodstream_inflight_events") == 10
        assert get("moodstream_consumer_lag", {{"topic": "t", "partition": "1"}}) == 11
        # primed series are merged like any other: 0 where nothing happened
        assert get("moodstream_model_timeouts_total", {{"model": "pat"}}) == 1
        assert get("moodstream_model_failures_total", {{"model": "pat"}}) == 0
        assert get("moodstream_events_invalid_total", {{"reason": "invalid_json"}}) == 0
        assert get("moodstream_alerts_published_total", {{"kind": "model_timeout"}}) == 0
        for pid in pids:
            mark_worker_dead(pid, d)
        r = scrape()
        assert r.get_sample_value("moodstream_events_consumed_total") == 6
        assert r.get_sample_value("moodstream_inflight_events") in (None, 0)
        assert r.get_sample_value("moodstream_consumer_lag",
                                  {{"topic": "t", "partition": "1"}}) is None
        assert r.get_sample_value("moodstream_build_info", {{"version": "0.1.0"}}) == 1
        print("ok")
    """)
    env = {k: v for k, v in os.environ.items() if k != "PROMETHEUS_MULTIPROC_DIR"}
    done = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"


def _registry_with_metrics() -> tuple[CollectorRegistry, Metrics]:
    registry = CollectorRegistry()
    return registry, Metrics(registry)


# --- health ----------------------------------------------------------------------------


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def _view(tmp_path: Path, clock: FakeClock, **kwargs: Any) -> HealthView:
    return HealthView(tmp_path, clock, stale_after_s=5.0, **kwargs)


def test_no_worker_yet_is_alive_but_not_ready(tmp_path: Path, clock: FakeClock) -> None:
    view = _view(tmp_path, clock)
    assert view.healthz()[0] is True
    ready, body = view.readyz()
    assert not ready and body["problems"]


def test_ready_workers_make_the_pod_ready(tmp_path: Path, clock: FakeClock) -> None:
    HealthReporter(health_file(tmp_path, 0), clock).update(True, True, [])
    HealthReporter(health_file(tmp_path, 1), clock).update(True, False, [])  # no partitions
    ready, body = _view(tmp_path, clock, expected_workers=2).readyz()
    assert ready, body
    assert body["workers"]["1"]["assigned"] is False


@pytest.mark.parametrize(
    ("ready", "stuck", "age_s", "problem"),
    [
        (False, [], 0.0, "models not loaded"),
        (True, ["pat"], 0.0, "stuck models: pat"),
        (True, [], 5.5, "heartbeat"),
    ],
)
def test_one_bad_worker_makes_the_pod_unready(
    tmp_path: Path, clock: FakeClock, ready: bool, stuck: list[str], age_s: float, problem: str
) -> None:
    HealthReporter(health_file(tmp_path, 0), clock).update(ready, None, stuck)
    clock.advance(age_s)
    HealthReporter(health_file(tmp_path, 1), clock).update(True, True, [])
    view = _view(tmp_path, clock)
    ok, body = view.readyz()
    assert not ok
    assert any(problem in p for p in body["workers"]["0"]["problems"])
    assert body["workers"]["1"]["problems"] == []
    assert view.healthz()[0] is True
    assert [w.name for w in view.stale_workers()] == (["0"] if age_s else [])


def test_expected_workers_missing_is_unready(tmp_path: Path, clock: FakeClock) -> None:
    HealthReporter(health_file(tmp_path, 0), clock).update(True, True, [])
    view = _view(tmp_path, clock, expected_workers=2)
    assert not view.readyz()[0]
    view.expected_workers = 1
    assert view.readyz()[0]


def test_a_worker_waiting_on_kafka_is_alive_but_not_ready(tmp_path: Path, clock: FakeClock) -> None:
    reporter = HealthReporter(health_file(tmp_path, 0), clock)
    reporter.update(True, True, [])
    clock.advance(4.0)
    reporter.alive("commit_transaction")  # the loop is blocked; the retry loop says alive
    view, hang = _view(tmp_path, clock), HealthView(tmp_path, clock, stale_after_s=10.0)
    assert view.readyz()[0]  # readiness ages with the loop's heartbeat: 4 s is still fine
    clock.advance(8.0)
    reporter.alive("commit_transaction")
    ok, body = view.readyz()
    assert not ok
    assert body["workers"]["0"]["problems"] == [
        "heartbeat 12.0s old (waiting on Kafka in commit_transaction)"
    ]
    assert hang.stale_workers() == []  # alive 0 s ago: the hang detector leaves it alone
    clock.advance(11.0)  # no word at all: hung
    assert [w.name for w in hang.stale_workers()] == ["0"]
    reporter.update(True, True, [])  # the loop goes on: the wait is gone from the file
    assert view.readyz()[0]


def test_unreadable_file_and_forget(tmp_path: Path, clock: FakeClock) -> None:
    health_file(tmp_path, 3).write_text("{not json")
    view = _view(tmp_path, clock)
    ok, body = view.readyz()
    assert not ok and body["workers"]["3"]["problems"] == ["health file unreadable"]
    view.forget(3)
    assert view.workers() == []


def test_reporter_writes_on_change_or_heartbeat_only(tmp_path: Path, clock: FakeClock) -> None:
    reporter = HealthReporter(health_file(tmp_path, 0), clock, heartbeat_interval_s=1.0)
    assert reporter.update(False, None, [])
    clock.advance(0.2)
    assert not reporter.update(False, None, [])
    assert reporter.update(True, None, [])  # changed
    clock.advance(1.0)
    assert reporter.update(True, None, [])  # heartbeat due
    data = json.loads(health_file(tmp_path, 0).read_text())
    assert data["heartbeat"] == clock.monotonic() and data["pid"] == os.getpid()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["worker-0.json"]  # no temp left
    reporter.remove()
    assert not health_file(tmp_path, 0).exists()


# --- HTTP endpoint ---------------------------------------------------------------------


def _get(server: MetricsServer, path: str) -> tuple[int, str, bytes]:
    """One request without a client thread: the kernel queues the connection and the
    request bytes, ``serve_pending`` answers on this thread, then we read the reply."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        sock.sendall(f"GET {path} HTTP/1.0\r\nHost: x\r\n\r\n".encode())
        assert server.serve_pending(timeout_s=5.0) == 1
        reply = b""
        while chunk := sock.recv(65536):
            reply += chunk
    head, _, body = reply.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    content_type = next(
        v for k, _, v in (h.partition(": ") for h in lines[1:]) if k.lower() == "content-type"
    )
    return int(lines[0].split()[1]), content_type, body


def test_server_serves_metrics_and_probes(tmp_path: Path, clock: FakeClock) -> None:
    registry, m = _registry_with_metrics()
    m.events_consumed.inc(4)
    view = _view(tmp_path, clock)
    server = MetricsServer("127.0.0.1", 0, lambda: registry, view)
    try:
        assert server.port > 0
        assert server.serve_pending(timeout_s=0) == 0
        status, ctype, body = _get(server, METRICS_PATH)
        assert status == 200 and ctype.startswith("text/plain")
        assert b"moodstream_events_consumed_total 4.0" in body
        status, _, body = _get(server, HEALTHZ_PATH)
        assert status == 200 and json.loads(body)["status"] == "ok"
        status, _, body = _get(server, READYZ_PATH)
        assert status == 503 and json.loads(body)["status"] == "not ready"
        HealthReporter(health_file(tmp_path, 0), clock).update(True, True, [])
        status, _, body = _get(server, READYZ_PATH + "?verbose=1")
        assert status == 200 and json.loads(body)["workers"]["0"]["ready"] is True
        assert _get(server, "/nope")[0] == 404
    finally:
        server.close()


def test_server_turns_a_failing_scrape_into_500(tmp_path: Path, clock: FakeClock) -> None:
    def broken() -> CollectorRegistry:
        raise RuntimeError("boom")

    server = MetricsServer("127.0.0.1", 0, broken, _view(tmp_path, clock))
    try:
        assert _get(server, METRICS_PATH)[0] == 500
    finally:
        server.close()


# --- process memory --------------------------------------------------------------------


def test_process_memory_helpers() -> None:
    assert process_rss_bytes(os.getpid()) > 10 * 1024 * 1024
    pss = process_pss_bytes(os.getpid())
    assert pss is None or pss > 0
    with pytest.raises(ProcessLookupError):
        process_rss_bytes(2**22 + 12345)
    assert process_pss_bytes(2**22 + 12345) is None


def test_rss_of_an_unreaped_child_is_zero_not_an_error() -> None:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    deadline = time.monotonic() + 30
    while _state(child.pid) != "Z" and time.monotonic() < deadline:
        time.sleep(0.01)  # the child exits by itself; nothing reaps it until wait()
    try:
        assert process_rss_bytes(child.pid) == 0
    finally:
        child.wait()


def _state(pid: int) -> str:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]


# --- lag arithmetic and gauge ----------------------------------------------------------


@pytest.mark.parametrize(
    ("committed", "low", "high", "lag"),
    [
        (None, 0, 10, 10),  # never committed: everything retained
        (None, 4, 10, 6),
        (-1001, 4, 10, 6),  # librdkafka's OFFSET_INVALID
        (7, 0, 10, 3),
        (10, 0, 10, 0),
        (2, 5, 10, 5),  # committed offset deleted by retention
        (12, 0, 10, 0),  # stale high watermark never gives a negative lag
        (3, -1001, -1001, 0),  # unknown watermarks
    ],
)
def test_compute_lag(committed: int | None, low: int, high: int, lag: int) -> None:
    assert compute_lag(committed, low, high) == lag


def test_update_lag_gauge_uses_only_cached_state() -> None:
    registry, m = _registry_with_metrics()
    consumer = FakeConsumer(
        {0: (0, 100), 1: (0, 50), 2: None, 3: (-1001, -1001)}, {0: 90, 1: -1001, 2: 5, 3: 5}
    )
    tps = [TopicPartition("t", p) for p in range(4)]
    update_lag_gauge(m, consumer, tps)
    assert consumer.cached == [True] * 4

    def lag(partition: int) -> float | None:
        return sample(registry, "moodstream_consumer_lag", topic="t", partition=str(partition))

    assert (lag(0), lag(1), lag(2), lag(3)) == (10, 50, None, None)
    # Before the first fetch after an assignment, the committed offset stands in.
    update_lag_gauge(m, consumer, tps[:2], committed={("t", 0): 80, ("t", 1): 45})
    assert (lag(0), lag(1)) == (10, 5)
    reset_lag_gauge(m, tps[:2])
    assert (lag(0), lag(1)) == (0, 0)


def test_events_read_but_not_published_count_as_lag() -> None:
    """A backlog waiting in the worker for PAT is behind, as it is for the commit: the
    autoscaler must see it, not only what is still in Kafka."""
    registry, m = _registry_with_metrics()
    consumer = FakeConsumer({0: (0, 100), 1: (0, 100)}, {0: 100, 1: 100})
    tps = [TopicPartition("t", 0), TopicPartition("t", 1)]
    update_lag_gauge(m, consumer, tps, pending={("t", 0): 40})

    def lag(partition: int) -> float | None:
        return sample(registry, "moodstream_consumer_lag", topic="t", partition=str(partition))

    assert (lag(0), lag(1)) == (60, 0)


def test_lag_report_json_and_table() -> None:
    member = Member("moodstream-1-abc", "/10.0.0.7", "moodstream")
    report = LagReport(
        "g", (PartitionLag("t", 0, None, 5, 5), PartitionLag("t", 1, 3, 4, 1, member))
    )
    assert report.as_dict() == {
        "group": "g",
        "partitions": [
            {"topic": "t", "partition": 0, "committed": None, "end": 5, "lag": 5, "consumer": None},
            {
                "topic": "t",
                "partition": 1,
                "committed": 3,
                "end": 4,
                "lag": 1,
                "consumer": {
                    "consumer_id": "moodstream-1-abc",
                    "host": "/10.0.0.7",
                    "client_id": "moodstream",
                },
            },
        ],
        "total_lag": 6,
        "never_committed_lag": 5,
    }
    table = format_table(report).splitlines()
    assert table[0].split() == [
        "GROUP",
        "TOPIC",
        "PARTITION",
        "CURRENT-OFFSET",
        "LOG-END-OFFSET",
        "LAG",
        "CONSUMER-ID",
        "HOST",
        "CLIENT-ID",
    ]
    assert table[1].split() == ["g", "t", "0", "-", "5", "5", "-", "-", "-"]
    assert table[2].split() == ["g", "t", "1", "3", "4", "1", *member.as_dict().values()]
    assert table[-1] == (
        "TOTAL LAG: 6 (of which 5 on partitions the group never committed, counted from "
        "their earliest offset)"
    )


def test_unknown_field_labels_are_bounded_and_first_sightings_reported() -> None:
    registry, m = _registry_with_metrics()
    assert m.count_unknown_field("device_model") is True
    assert m.count_unknown_field("device_model") is False
    for i in range(1, MAX_FIELD_LABELS):
        m.count_unknown_field(f"field_{i}")
    assert m.count_unknown_field("one_too_many") is True  # first "other"
    assert m.count_unknown_field("another_one") is False
    assert sample(registry, "moodstream_unknown_fields_total", field="device_model") == 2
    assert sample(registry, "moodstream_unknown_fields_total", field="other") == 2
    assert sample(registry, "moodstream_unknown_fields_total", field="one_too_many") is None


def test_insufficient_input_and_ignored_fields_are_counted_per_event() -> None:
    registry, m = _registry_with_metrics()
    source = SourceResult(("t", 0), 5, 0.0, insufficient_input=True, ignored_fields=("a", "a"))
    Recorder(m).batch(2, [source])
    assert sample(registry, "moodstream_insufficient_input_total") == 1
    assert sample(registry, "moodstream_unknown_fields_total", field="a") == 2


def test_lane_metrics_follow_what_the_lanes_hold_and_admit() -> None:
    import numpy as np

    from tests.fakes import FakeModel, ManualExecutor, make_lane

    registry, m = _registry_with_metrics()
    clock = FakeClock()
    lane = make_lane(
        FakeModel("pat"), ManualExecutor(), 10.0, clock, seconds_per_row=1.0, chunk_rows=1
    )
    lane.enqueue(tuple(range(8)), np.zeros((8, 3), np.float32), None)
    lane.pump(clock.monotonic())  # 5 of 8 admitted (5 s budget at 1 s per row)
    recorder = Recorder(m)
    recorder.lanes([lane])
    recorder.lanes([lane])  # counters move by what changed since the last call only
    assert sample(registry, "moodstream_lane_queued_rows", model="pat") == 8
    assert sample(registry, "moodstream_lane_queued_seconds", model="pat") == 8.0
    assert sample(registry, "moodstream_lane_seconds_per_row", model="pat") == 1.0
    assert sample(registry, "moodstream_lane_admitted_rows_total", model="pat") == 5
    assert sample(registry, "moodstream_lane_deferred_rows_total", model="pat") == 8
    recorder.paused("pat_pending", 2.5)
    assert sample(registry, "moodstream_paused_seconds_total", reason="pat_pending") == 2.5
    assert sample(registry, "moodstream_paused_seconds_total", reason="inflight") == 0
    assert sample(registry, "moodstream_pauses_total", reason="inflight") == 0
    recorder.pause("inflight")
    assert sample(registry, "moodstream_pauses_total", reason="inflight") == 1


def test_a_gathered_call_over_three_batches_is_one_call_in_the_metrics() -> None:
    import numpy as np

    from consumer.ensemble.row_batching import RowBatching
    from tests.fakes import FakeModel, ManualExecutor, make_lane

    registry, m = _registry_with_metrics()
    clock = FakeClock()
    pool = ManualExecutor()
    lane = make_lane(
        FakeModel("pat"), pool, 10.0, clock, chunk_rows=6, batching=RowBatching(6, 0.005)
    )
    for _ in range(3):
        lane.enqueue((0, 1), np.zeros((2, 3), np.float32), None)
    lane.pump(clock.monotonic())
    pool.run_all()
    runs = lane.pump(clock.monotonic())
    assert [run.call_part for run in runs] == [0, 1, 2]  # one run per batch
    Recorder(m).runs(runs)
    assert sample(registry, "moodstream_model_latency_seconds_count", model="pat") == 1
    assert sample(registry, "moodstream_model_call_rows_count", model="pat") == 1
    assert sample(registry, "moodstream_model_call_rows_sum", model="pat") == 6
