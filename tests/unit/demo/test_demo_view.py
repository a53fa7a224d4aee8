"""The demo's accounting: only this run's events count, latency pairs input and output."""

from __future__ import annotations

import orjson

from consumer.demo.view import DemoTally


def prediction(event_id: str, partial: bool = False) -> bytes:
    return orjson.dumps({"event_id": event_id, "partial": partial})


def test_tally_counts_only_this_runs_events_once_and_pairs_latencies() -> None:
    tally = DemoTally(planned=3, started_at=0.0, since_ms=1_000)
    tally.produced("a", 1_000)
    tally.produced("zz", 999)  # an earlier run's event
    tally.prediction(prediction("a"), 1_040)
    tally.prediction(prediction("a"), 1_090)  # an at-least-once duplicate
    tally.prediction(prediction("b", partial=True), 2_000)  # its input not seen yet
    tally.produced("b", 1_900)
    tally.prediction(prediction("zz"), 1_100)  # an earlier run's event, predicted now
    assert tally.predicted == {"a", "b"} and tally.partial == 1 and tally.consumed == 2
    assert sorted(tally.latencies_ms) == [40.0, 100.0]
    assert tally.percentile_ms(0.5) == 40.0 and tally.percentile_ms(0.99) == 100.0
    tally.produced("c", 2_100)
    assert not tally.done()
    tally.dead += 1
    assert tally.done()
