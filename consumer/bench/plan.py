"""How much a benchmark run measures (``Plan``, one per mode in ``PLANS``) and its
progress lines. Plain data, imported by the suite and by the parts it runs in a child."""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field


@dataclass(frozen=True)
class WindowsPlan:
    """The windows stage's section (issue 26): day-chunk users (x 8 days; also the
    changelog a fresh worker restores), one-minute records (users x minutes), and the
    users of the 1x run of the RSS comparison (0: skipped; the day-chunk run is 10x)."""

    users: int
    minute_users: int
    minutes: int
    rss_base_users: int = 0


@dataclass(frozen=True)
class Plan:
    """How much of everything a mode measures."""

    mode: str
    pool: dict[str, int]
    passthrough: dict[str, int]
    model_s: float
    decode_s: float
    backlog: dict[str, int]
    latency_s: float
    baseline_s: float
    workers: tuple[int, ...] = (1, 2)
    memory_workers: tuple[int, ...] = (1, 2, 4)
    memory_s: float = 5.0  # paced load of a memory-only run
    trio_batches: tuple[int, ...] = (1, 64, 256, 512)
    loads: tuple[float, ...] = (0.5, 0.9)
    pat_weeks: int = 1_000  # synthetic weeks scored by every PAT runtime for max |Δ|
    pat_rounds: int = 2  # each PAT runtime measured this many times, in turn
    activity_backlog: int = 0  # events of the activity-only backlog scenario (0: skipped)
    mixed_runtimes: int = 0  # events of each 50 %-activity drain per PAT runtime (0: skipped)
    gpu_lane: int = 0  # events of the GPU lane's feed run and of each GPU run (0: skipped)
    windows: WindowsPlan | None = None  # the windows stage's section (None: skipped)
    #: The paced loads' rate at most (None: uncapped). A smoke backlog drains in a few
    #: milliseconds of broker time (not ``drain_reliable``), so its "sustained" rate can
    #: read 100,000/s: paced at that, a 1.5 s load queued a minute of work.
    max_paced_rate_per_s: float | None = None
    notes: list[str] = field(default_factory=list)


PLANS = {
    "full": Plan(
        "full",
        pool={"features_only": 3000, "mixed": 1000},
        passthrough={"features_only": 100_000, "mixed": 15_000},
        model_s=3.0,
        decode_s=2.0,
        backlog={"features_only": 30_000, "mixed": 2500},
        latency_s=15.0,
        baseline_s=10.0,
        memory_s=10.0,
        activity_backlog=1200,
        mixed_runtimes=1500,
        gpu_lane=6000,
        windows=WindowsPlan(users=10_000, minute_users=500, minutes=600, rss_base_users=1_000),
    ),
    "quick": Plan(
        "quick",
        pool={"features_only": 1500, "mixed": 500},
        passthrough={"features_only": 30_000, "mixed": 4000},
        model_s=1.0,
        decode_s=0.5,
        backlog={"features_only": 15_000, "mixed": 1000},
        latency_s=4.0,
        baseline_s=3.0,
        memory_s=5.0,
        trio_batches=(1, 512),
        pat_weeks=128,
        pat_rounds=1,
        activity_backlog=500,
        mixed_runtimes=600,
        gpu_lane=2000,
        windows=WindowsPlan(users=2_000, minute_users=100, minutes=600, rss_base_users=200),
    ),
    "smoke": Plan(
        "smoke",
        pool={"features_only": 300, "mixed": 200},
        passthrough={"features_only": 1000, "mixed": 300},
        model_s=0.2,
        decode_s=0.1,
        backlog={"features_only": 1500, "mixed": 600},
        latency_s=1.5,
        baseline_s=1.0,
        workers=(1,),
        memory_workers=(1,),
        trio_batches=(1, 512),
        pat_weeks=8,
        pat_rounds=1,
        windows=WindowsPlan(users=20, minute_users=10, minutes=60),
        max_paced_rate_per_s=300.0,
    ),
}


def print_progress(message: str) -> None:
    """Progress lines on stderr (module level: a spawned child can use it too)."""
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)
