"""Per-key output order over the real broker (issue 25): users who send a day with a week
of activity, then two days of features only, keyed by ``user_id``, get their predictions
(and alerts) in the order of their days under ``PROCESSING__OUTPUT_ORDER=per_key`` (the
default); under ``arrival`` a features-only day, answered by the boosters in
milliseconds, overtakes the PAT day of its user.

The backlog is produced before the worker starts, so each batch holds many users' slow
and fast events together.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.fakes import event_bytes
from tests.integration.harness import Stream, produce_raw, running_service

pytestmark = pytest.mark.integration

USERS = 30
DAYS = ("2026-11-24", "2026-11-25", "2026-11-26")  # day 1 with a week of activity


def user_events() -> list[tuple[bytes, bytes]]:
    """Each user's three days in order, users interleaved day by day, keyed by user_id."""
    events = []
    for day, as_of in enumerate(DAYS):
        for user in range(USERS):
            value = event_bytes(
                seed=day * USERS + user,
                activity=day == 0,
                user_id=f"order-user-{user}",
                as_of=as_of,
            )
            events.append((f"order-user-{user}".encode(), value))
    return events


def days_per_user(values: list[dict[str, Any]], day_of: dict[str, str]) -> dict[str, list[str]]:
    """Each user's days in the order its records were read from the topic."""
    seen: dict[str, list[str]] = defaultdict(list)
    for value in values:
        seen[value["user_id"]].append(day_of[value["event_id"]])
    return seen


def run_backlog(stream: Stream, tmp_path: Path, order: str) -> dict[str, list[str]]:
    """Produce the backlog, run one worker until every prediction is out; return each
    user's prediction days in topic order (alerts checked to follow the same order)."""
    events = user_events()
    day_of = {e["event_id"]: e["as_of"] for e in (orjson.loads(value) for _, value in events)}
    produce_raw(stream.bootstrap, stream.topics.features, events)
    predictions = stream.reader(stream.topics.predictions)
    alerts = stream.reader(stream.topics.alerts)
    env = stream.env(PROCESSING__OUTPUT_ORDER=order)
    with running_service(env, tmp_path, "--workers", "1") as service:
        predictions.wait_count(len(events), timeout_s=300)
        assert service.stop() == 0, service.logs()[-2000:]
    alerts.poll(2.0)
    by_user = days_per_user(predictions.values(), day_of)
    if order == "per_key":  # alerts of a user (slow predictions, timeouts) keep its order too
        for user, days in days_per_user(alerts.values(), day_of).items():
            assert days == sorted(days), (user, days)
    predictions.close()
    alerts.close()
    return by_user


def test_per_key_order_gives_every_user_its_days_in_order(stream: Stream, tmp_path: Path) -> None:
    by_user = run_backlog(stream, tmp_path, "per_key")
    assert len(by_user) == USERS
    out_of_order = {user: days for user, days in by_user.items() if days != list(DAYS)}
    assert out_of_order == {}


def test_arrival_order_lets_features_only_days_overtake(stream: Stream, tmp_path: Path) -> None:
    by_user = run_backlog(stream, tmp_path, "arrival")
    assert len(by_user) == USERS and all(sorted(days) == list(DAYS) for days in by_user.values())
    overtaken = [user for user, days in by_user.items() if days != list(DAYS)]
    assert overtaken, "no features-only day overtook its user's PAT day under arrival order"
