"""``moodstream demo --samples USERS``: the windows side's accounting (consumer.demo.weeks)
and how the demo routes records between it and the scoring side. The demo run itself
(both stages against the real broker): tests/integration/test_operator_demo.py."""

from __future__ import annotations

import argparse
from pathlib import Path

import orjson
import pytest

from consumer.cli import build_parser
from consumer.commands.demo import _account, _check
from consumer.demo.view import DemoTally
from consumer.demo.weeks import DAYS, WeeksSide, WeeksTally, samples_argv, windows_argv
from consumer.errors import ConfigError
from consumer.settings import TopicSettings

TOPICS = TopicSettings()
TOTALS = {"moodstream_windows_records_total": 10.0, "moodstream_windows_events_total": 2.0}


class _Msg:
    def __init__(
        self,
        topic: str,
        value: dict[str, object] | None,
        headers: list[tuple[str, bytes]] | None = None,
        ts_ms: int = 5_000,
    ) -> None:
        self._topic, self._headers, self._ts = topic, headers, ts_ms
        self._value = None if value is None else orjson.dumps(value)

    def topic(self) -> str:
        return self._topic

    def value(self) -> bytes | None:
        return self._value

    def headers(self) -> list[tuple[str, bytes]] | None:
        return self._headers

    def timestamp(self) -> tuple[int, int]:
        return (1, self._ts)


WINDOW = [("revision", b"1"), ("trigger", b"complete")]


def _week(event_id: str) -> dict[str, object]:
    return {"event_id": event_id, "activity": [0.0] * 3, "coverage": 0.9}


def test_the_tally_counts_weeks_their_predictions_and_coverage() -> None:
    tally = WeeksTally()
    tally.event(orjson.dumps({"event_id": "d0", "features": {}}))  # revision 0: features only
    tally.event(orjson.dumps(_week("w1")))
    tally.event(b"\xff not json")
    assert tally.events == {"d0", "w1"} and tally.weeks == {"w1"} and tally.unreadable == 1
    assert tally.pending() == 2 and not tally.done(TOTALS, 10)
    tally.prediction(orjson.dumps({"event_id": "w1", "coverage": 0.9}))
    tally.prediction(orjson.dumps({"event_id": "other", "coverage": None}))
    assert tally.scored_weeks() == 1 and tally.pending() == 1
    tally.prediction(orjson.dumps({"event_id": "d0", "coverage": None}))
    assert tally.pending() == 0 and tally.done(TOTALS, 10)
    assert not tally.done(TOTALS, 11)  # the stage has not read every record sent yet
    assert not tally.done({**TOTALS, "moodstream_windows_events_total": 3.0}, 10)  # one unseen
    summary = tally.summary({"moodstream_windows_samples_total": 8.0})
    assert "weeks 1" in summary and "weeks scored 1 (coverage median 0.900)" in summary
    assert "sample records in 8" in summary and tally.line() == "  weeks 1 scored 1"


def test_the_demo_routes_the_windows_stages_records_away_from_the_scoring_tally(
    tmp_path: Path,
) -> None:
    scoring = DemoTally(planned=1, started_at=0.0, since_ms=1_000)
    weeks = WeeksSide(users=1, seed=3, port=9401)
    windows_dead = [("source.topic", TOPICS.activity.encode()), ("error.class", b"x")]
    scoring_dead = [("source.topic", TOPICS.features.encode())]
    for msg in (
        _Msg(TOPICS.features, _week("w1"), WINDOW),
        _Msg(TOPICS.features, {"event_id": "s1"}),  # the synthetic producer's
        _Msg(TOPICS.features, _week("old"), WINDOW, ts_ms=999),  # an earlier run's
        _Msg(TOPICS.dlq, {}, windows_dead),
        _Msg(TOPICS.dlq, {}, scoring_dead),
        _Msg(TOPICS.predictions, {"event_id": "w1", "partial": False, "coverage": 0.9}),
        _Msg(TOPICS.predictions, {"event_id": "s1", "partial": False, "coverage": None}),
    ):
        _account(scoring, msg, TOPICS, weeks)
    assert weeks.tally.events == {"w1"} and weeks.tally.dead == 1
    assert weeks.tally.scored_weeks() == 1 and weeks.tally.pending() == 0
    assert scoring.consumed == 1 and scoring.dead == 1 and scoring.predicted == {"s1"}
    assert scoring.done()
    env = weeks.env({"MOODSTREAM_OBSERVABILITY__PORT": "9400"}, tmp_path / "state")
    assert env["MOODSTREAM_OBSERVABILITY__PORT"] == "9401"
    assert env["MOODSTREAM_WINDOWS__STATE_DIR"] == str(tmp_path / "state")
    assert weeks.expected == WeeksSide(users=1, seed=3, port=1).expected > DAYS  # deterministic


def test_the_children_are_the_windows_stage_and_the_samples_producer() -> None:
    parser = build_parser()
    stage = parser.parse_args(windows_argv()[3:])
    assert (stage.command, stage.stage, stage.workers) == ("run", "windows", 1)
    produce = parser.parse_args(samples_argv(7, 42)[3:])
    assert produce.samples and (produce.users, produce.days, produce.seed) == (7, DAYS, 42)
    demo = parser.parse_args(["demo", "--samples", "5"])
    assert demo.samples == 5 and parser.parse_args(["demo"]).samples == 0  # off by default
    with pytest.raises(ConfigError, match="--samples"):
        _check(argparse.Namespace(**{**vars(demo), "samples": -1}))
