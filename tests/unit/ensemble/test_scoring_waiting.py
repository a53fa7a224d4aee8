"""``Scoring.waiting``: exactly the events a lane covers and has not answered yet."""

from __future__ import annotations

import numpy as np

from consumer.ensemble.model_runs import LaneRequest, ModelRun
from consumer.ensemble.scoring import Scoring
from schemas import ModelStatus


def _request(rows: tuple[int, ...]) -> LaneRequest:
    return LaneRequest(rows, np.zeros((len(rows), 1), dtype=np.float32), enqueued_at=0.0)


def _run(name: str, rows: tuple[int, ...]) -> ModelRun:
    scores = np.full(len(rows), 0.5)
    return ModelRun(name, ModelStatus.OK, "v1", 1.0, rows, scores)


def test_waiting_is_exactly_the_events_not_yet_answered() -> None:
    boosters, pat = _request((0, 1, 2, 3)), _request((2, 4))
    scoring = Scoring(0.0, {"depression": boosters, "pat": pat})
    steps = [
        ("depression", boosters, (0, 1)),
        ("pat", pat, (4,)),
        ("depression", boosters, (2, 3)),
        ("pat", pat, (2,)),
    ]

    def check() -> list[int]:
        waiting = scoring.waiting()
        requests = scoring.requests.values()
        assert waiting == {
            i for i in range(5) if any(r.covers(i) and r.run_for(i) is None for r in requests)
        }
        return sorted(waiting)

    seen = [check()]
    for name, request, rows in steps:
        request.resolve(_run(name, rows))
        seen.append(check())
    assert seen == [[0, 1, 2, 3, 4], [2, 3, 4], [2, 3], [2], []]
