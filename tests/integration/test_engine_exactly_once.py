"""Exactly-once against the real broker (issue 14, faults 5 and 6): a rebalance in the
middle of a transaction aborts and rewinds the batch instead of crashing the worker, and
two services on one host do not fence each other. Output stays exactly once."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.integration.harness import (
    Stream,
    produce_paced,
    running_service,
)
from tests.integration.test_engine_pause import join_group
from tests.integration.test_pipeline_flow import synthetic_ids

pytestmark = pytest.mark.integration


def published_total(metrics_text: str) -> float:
    return sum(
        sample.value
        for family in text_string_to_metric_families(metrics_text)
        for sample in family.samples
        if sample.name == "moodstream_predictions_published_total"
    )


def test_rebalances_mid_transaction_do_not_crash_the_worker(
    stream: Stream,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    count, seed, joins = 1200, 31, 3
    env = stream.env(
        PROCESSING__GUARANTEE="exactly_once",
        PROCESSING__MAX_BATCH_SIZE=32,
    )
    predictions = stream.reader(stream.topics.predictions)
    with running_service(env, tmp_path) as service:
        service.wait_ready()
        producer = produce_paced(env, count, rate=200, seed=seed)
        predictions.wait_count(100, timeout_s=60)
        for _ in range(joins):  # each join and each leave is a rebalance under load
            member, _taken = join_group(stream.bootstrap, stream.group, stream.topics.features)
            time.sleep(0.5)
            member.close()
            time.sleep(0.5)
        assert producer.wait(60) == 0
        predictions.wait_for_ids(set(synthetic_ids(seed, count)), timeout_s=120)
        published = published_total(service.get("/metrics")[1])
        logs = service.logs()
        assert service.stop() == 0, logs[-2000:]
    seen = predictions.event_ids()
    crashes, aborted = logs.count('"worker_exited"'), logs.count('"transaction_aborted"')
    with capsys.disabled():
        print(
            f"\nexactly-once, {2 * joins} rebalances under load: {crashes} worker crashes, "
            f"{aborted} transactions aborted and rewound, {len(seen)} of {count} predicted, "
            f"duplicates {sum(seen.values()) - len(seen)}, "
            f"predictions_published_total {published:g}"
        )
    assert crashes == 0, "a rebalance crashed the worker"
    assert set(seen) == set(synthetic_ids(seed, count)) and max(seen.values()) == 1
    assert published == count, "only committed predictions count"
    predictions.close()


def test_two_exactly_once_services_on_one_host_do_not_fence_each_other(
    stream: Stream,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    count, seed = 600, 32
    env = stream.env(
        PROCESSING__GUARANTEE="exactly_once",
        PROCESSING__MAX_BATCH_SIZE=32,
    )
    env_b = stream.env(
        PROCESSING__GUARANTEE="exactly_once",
        PROCESSING__MAX_BATCH_SIZE=32,
    )
    predictions = stream.reader(stream.topics.predictions)
    with running_service(env, tmp_path) as first, running_service(env_b, tmp_path) as second:
        first.wait_ready()
        second.wait_ready()
        producer = produce_paced(env, count, rate=300, seed=seed)
        assert producer.wait(60) == 0
        predictions.wait_for_ids(set(synthetic_ids(seed, count)), timeout_s=90)
        logs = first.logs() + second.logs()
        assert first.stop() == 0 and second.stop() == 0, logs[-3000:]
    seen = predictions.event_ids()
    crashes = logs.count('"worker_exited"')
    with capsys.disabled():
        print(
            f"\ntwo exactly-once services on one host: {crashes} worker crashes, "
            f"{len(seen)} of {count} predicted, duplicates {sum(seen.values()) - len(seen)}"
        )
    assert crashes == 0, "the two services fenced each other"
    assert set(seen) == set(synthetic_ids(seed, count)) and max(seen.values()) == 1
    predictions.close()
