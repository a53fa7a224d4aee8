"""The stream engine when things go wrong, against the real broker. Every test accounts for
every event_id it sent."""

from __future__ import annotations

import json
import signal
import time
from collections import Counter
from pathlib import Path

import orjson
import psutil
import pytest
from confluent_kafka.admin import AdminClient

from tests.fakes import event_bytes, event_dict
from tests.integration.harness import (
    Stream,
    committed_total,
    free_port,
    produce_paced,
    produce_raw,
    running_service,
    wait_for,
)
from tests.integration.test_pipeline_flow import synthetic_ids

pytestmark = pytest.mark.integration


def group_members(bootstrap: str, group: str) -> int:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    description = admin.describe_consumer_groups([group])[group].result(timeout=10)
    return len(description.members)


def workers_of(pid: int) -> list[psutil.Process]:
    return list(psutil.Process(pid).children())


@pytest.mark.parametrize("guarantee", ["at_least_once", "exactly_once"])
def test_worker_killed_mid_stream_loses_nothing(
    guarantee: str,
    stream: Stream,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    count, seed = 3000, 11
    env = stream.env(
        PROCESSING__GUARANTEE=guarantee,
        PROCESSING__MAX_BATCH_SIZE=32,
        # The killed worker's partitions move once its session expires: 6 s (the broker's
        # minimum) instead of the 10 s default; what is lost or duplicated does not depend
        # on how long the group waits for it.
        KAFKA__SESSION_TIMEOUT_MS=6_000,
    )
    predictions = stream.reader(stream.topics.predictions)
    with running_service(env, tmp_path, "--workers", "2") as service:
        service.wait_ready()
        producer = produce_paced(env, count, rate=600, seed=seed)
        predictions.wait_count(800, timeout_s=120)
        victim = workers_of(service.process.pid)[0]
        victim.send_signal(signal.SIGKILL)
        wait_for(
            lambda: (
                len(workers_of(service.process.pid)) == 2
                and victim.pid not in [w.pid for w in workers_of(service.process.pid)]
            ),
            30,
            "worker not restarted",
        )
        predictions.wait_count(count, timeout_s=180)
        predictions.wait_for_ids(set(synthetic_ids(seed, count)), timeout_s=120)
        assert producer.wait(60) == 0
        assert service.stop() == 0, service.logs()[-2000:]
    seen = predictions.event_ids()
    assert set(seen) == set(synthetic_ids(seed, count))
    duplicates = sum(seen.values()) - len(seen)
    with capsys.disabled():
        print(
            f"\n[{guarantee}] SIGKILL mid-stream: events {count}, predictions "
            f"{sum(seen.values())}, distinct {len(seen)}, duplicates {duplicates}"
        )
    if guarantee == "exactly_once":
        assert duplicates == 0, "read_committed must see exactly one prediction per event"
    predictions.close()


def test_worker_joins_and_leaves_under_load(
    stream: Stream,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    count, seed = 3000, 12
    env = stream.env(PROCESSING__MAX_BATCH_SIZE=32)
    env_b = {
        **env,
        # a port of its own (the next port up may be taken: a second service that cannot
        # serve its metrics exits at start, and the test would wait for it in vain)
        "MOODSTREAM_OBSERVABILITY__PORT": str(free_port()),
    }
    predictions = stream.reader(stream.topics.predictions)
    with running_service(env, tmp_path, "--workers", "2") as first:
        first.wait_ready()
        producer = produce_paced(env, count, rate=500, seed=seed)
        predictions.wait_count(600, timeout_s=120)
        with running_service(env_b, tmp_path, "--workers", "1") as second:
            predictions.wait_count(1500, timeout_s=120)
            started = time.monotonic()
            assert first.stop() == 0, first.logs()[-2000:]
            drain_s = time.monotonic() - started
            predictions.wait_count(count, timeout_s=180)
            assert producer.wait(60) == 0
            predictions.wait_for_ids(set(synthetic_ids(seed, count)), timeout_s=120)
            assert set(predictions.event_ids()) == set(synthetic_ids(seed, count)), (
                "events missing after rebalance"
            )
            assert second.stop() == 0, second.logs()[-2000:]
    seen = predictions.event_ids()
    with capsys.disabled():
        print(
            f"\njoin/leave: events {count}, predictions {sum(seen.values())}, duplicates "
            f"{sum(seen.values()) - len(seen)}, leaving worker drained in {drain_s:.2f} s"
        )
    predictions.close()


def test_sigterm_under_load_commits_exactly_what_was_published(
    stream: Stream,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    count, seed = 6000, 13
    env = stream.env(PROCESSING__MAX_BATCH_SIZE=32)
    predictions = stream.reader(stream.topics.predictions)
    with running_service(env, tmp_path, "--workers", "2") as service:
        service.wait_ready()
        # Under load: events keep arriving (1,500/s for 4 s) when SIGTERM comes.
        producer = produce_paced(env, count, rate=1500, seed=seed)
        predictions.wait_count(1500, timeout_s=120)
        started = time.monotonic()
        assert service.stop(timeout_s=35) == 0, service.logs()[-2000:]
        drain_s = time.monotonic() - started
    assert drain_s < 30.0
    assert producer.wait(60) == 0
    committed = committed_total(stream.bootstrap, stream.topics.features, stream.group, 6)
    predictions.wait_count(committed, timeout_s=30)
    predictions.poll(1.0)
    first = predictions.event_ids()
    assert committed == len(first) == sum(first.values()) < count
    with running_service(env, tmp_path, "--workers", "2") as service:
        predictions.wait_count(count, timeout_s=180)
        predictions.poll(1.0)
        assert service.stop() == 0
    seen = predictions.event_ids()
    assert set(seen) == set(synthetic_ids(seed, count)) and max(seen.values()) == 1
    with capsys.disabled():
        print(
            f"\nSIGTERM under load: {committed} committed at stop, drain {drain_s:.2f} s, "
            f"after restart {len(seen)} distinct of {count}, duplicates 0"
        )
    predictions.close()


def poison_messages(max_bytes: int) -> dict[str, bytes | None]:
    good = event_dict(seed=900)
    return {
        "malformed_json": b'{"schema_version": 1,',
        "wrong_type": orjson.dumps({**good, "features": {**good["features"], "ST_long_MN": "8"}}),
        "missing_field": orjson.dumps({k: v for k, v in good.items() if k != "as_of"}),
        "unknown_field": orjson.dumps({**good, "surprise": True}),
        "nan": event_bytes(seed=901).replace(b'"ST_long_Zscore":', b'"ST_long_Zscore":NaN,"x":', 1),
        "infinity": event_bytes(seed=902).replace(
            b'"ST_long_Zscore":', b'"ST_long_Zscore":Infinity,"x":', 1
        ),
        "activity_length": orjson.dumps(
            {**event_dict(seed=903, features=False), "activity": [1.0] * 100}
        ),
        "empty": None,
        "too_large": b'{"pad": "' + b"x" * (max_bytes + 10) + b'"}',
        "invalid_utf8": b'{"user_id": "\xff\xfe"}',
    }


def test_poison_messages_go_to_dlq_and_good_ones_are_predicted(
    stream: Stream, tmp_path: Path
) -> None:
    max_bytes = 65_536
    bad = poison_messages(max_bytes)
    good = [event_bytes(seed=i) for i in range(20)]
    records: list[tuple[bytes | None, bytes | None]] = []
    for i, (name, value) in enumerate(bad.items()):
        records += [(f"good-{i}".encode(), good[i]), (name.encode(), value)]
    records += [(b"good-tail", g) for g in good[len(bad) :]]
    produce_raw(stream.bootstrap, stream.topics.features, records)
    env = stream.env(  # strict fields: an unknown field is poison too (tolerated by default)
        PROCESSING__MAX_MESSAGE_BYTES=max_bytes,
        PROCESSING__STRICT_FIELDS="true",
    )
    predictions = stream.reader(stream.topics.predictions)
    dead = stream.reader(stream.topics.dlq)
    with running_service(env, tmp_path) as service:
        predictions.wait_count(len(good), timeout_s=120)
        dead.wait_count(len(bad), timeout_s=60)
        assert service.process.poll() is None, "the worker must stay alive"
        assert service.get("/readyz")[0] == 200
        assert service.stop() == 0
    assert {p["event_id"] for p in predictions.values()} == {
        json.loads(g)["event_id"] for g in good
    }
    reasons = {m.key().decode(): dict(m.headers())["error.class"].decode() for m in dead.records}
    assert set(reasons) == set(bad)
    assert reasons["too_large"] == "InvalidEvent.too_large"
    assert reasons["invalid_utf8"] == "InvalidEvent.invalid_utf8"
    assert reasons["nan"] == reasons["infinity"] == "InvalidEvent.not_finite"
    assert reasons["empty"] == "InvalidEvent.empty"
    for message in dead.records:
        assert message.value() == bad[message.key().decode()]  # the original bytes
    predictions.close()
    dead.close()


def test_model_that_never_returns_gives_partial_predictions_and_unready(
    stream: Stream, tmp_path: Path
) -> None:
    env = stream.env(
        ENSEMBLE__PAT_TIMEOUT_S=1.0,
        PROCESSING__MAX_BATCH_SIZE=8,
    )
    first = [(b"a", event_bytes(seed=i, activity=True)) for i in range(10)]
    later = [(b"b", event_bytes(seed=100 + i, activity=True)) for i in range(10)]
    predictions = stream.reader(stream.topics.predictions)
    alerts = stream.reader(stream.topics.alerts)
    with running_service(env, tmp_path, module="tests.integration.hung_service") as service:
        service.wait_ready()
        produce_raw(stream.bootstrap, stream.topics.features, first)
        predictions.wait_count(10, timeout_s=60)
        # Readiness names the stuck model while the worker keeps serving.
        wait_for(lambda: service.get("/readyz")[0] == 503, 15, "readiness never reported it")
        assert "pat" in service.get("/readyz")[1]
        produce_raw(stream.bootstrap, stream.topics.features, later)
        predictions.wait_count(20, timeout_s=60)
        alerts.wait_count(20, timeout_s=30)
        assert service.get("/healthz")[0] == 200
        assert service.process.poll() is None
        assert group_members(stream.bootstrap, stream.group) == 1, "the worker left the group"
        assert service.stop() == 0, service.logs()[-2000:]
    values = predictions.values()
    assert all(p["partial"] and p["models"]["pat"]["status"] == "timeout" for p in values)
    assert all(p["current_depression"] is None for p in values)
    assert all(p["models"]["depression"]["status"] == "ok" for p in values)
    assert all(p["ensemble_depression"] == p["next_day_risk"]["depression"] for p in values)
    kinds = Counter((a["kind"], a["model"]) for a in alerts.values())
    assert kinds[("model_timeout", "pat")] >= 20
    predictions.close()
    alerts.close()
