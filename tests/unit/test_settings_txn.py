"""The exactly-once recovery waits, all derived from one budget, and the settings check
that keeps the budget within ``max.poll.interval.ms``."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from consumer.settings import Guarantee, KafkaSettings, ProcessingSettings, Settings
from consumer.settings_txn import (
    COMMIT_RESUME_SHARE,
    COMMITTED_SHARE,
    RETRY_SHARE,
    TxnBudget,
)


def settings(connect_timeout_s: float, max_poll_interval_ms: int = 300_000) -> Settings:
    return Settings(
        kafka=KafkaSettings(
            connect_timeout_s=connect_timeout_s, max_poll_interval_ms=max_poll_interval_ms
        ),
        processing=ProcessingSettings(guarantee=Guarantee.EXACTLY_ONCE),
    )


def test_at_the_default_timeout_the_waits_are_the_measured_ones() -> None:
    budget = TxnBudget(20.0)
    assert budget.total_s == pytest.approx(210.0)
    assert budget.retry_s == pytest.approx(30.0)  # 1.5 x 20 s, as before
    assert budget.commit_resume_s == pytest.approx(30.0)  # session 30's split outcome
    assert budget.committed_s == pytest.approx(90.0)  # 4.5 x 20 s: the 45 s half-open fix
    assert budget.send_offsets_s == pytest.approx(10.0)  # librdkafka #5456 tuning
    assert budget.stuck_grace_s == pytest.approx(2.0)
    assert budget.worst_s() < 300.0 and budget.problem(300_000) is None


def test_the_longest_path_fills_the_budget() -> None:
    assert pytest.approx(1.0) == 3 * RETRY_SHARE + COMMIT_RESUME_SHARE + COMMITTED_SHARE
    budget = TxnBudget(10.0)
    assert budget.total_s <= budget.worst_s() <= budget.total_s + 4 * 1.0 + budget.stuck_grace_s


def test_a_replacement_shares_the_budget_with_the_reads_after_it() -> None:
    budget = TxnBudget(20.0)
    assert budget.replacement_s == pytest.approx(120.0)  # a 45 s half-open coordinator fits
    assert budget.replacement_s == pytest.approx(budget.retry_s + budget.committed_s)
    assert TxnBudget(27.0).problem(300_000) is None  # 32 s before the commit's resumption
    assert TxnBudget(28.0).problem(300_000) is not None


def test_settings_refuse_a_budget_past_the_poll_interval_naming_the_variables() -> None:
    with pytest.raises(ValidationError) as refused:
        settings(connect_timeout_s=40.0)  # 420 s of waits against 300 s
    message = str(refused.value)
    assert "KAFKA__CONNECT_TIMEOUT_S=40" in message
    assert "KAFKA__MAX_POLL_INTERVAL_MS=300000" in message


def test_settings_accept_it_with_room_or_without_transactions() -> None:
    assert settings(connect_timeout_s=20.0).kafka.connect_timeout_s == 20.0
    assert settings(40.0, max_poll_interval_ms=450_000).kafka.max_poll_interval_ms == 450_000
    at_least_once = Settings(kafka=KafkaSettings(connect_timeout_s=120.0))
    assert at_least_once.processing.guarantee is Guarantee.AT_LEAST_ONCE
