"""The soak (``make soak``, not in CI): a mixed load at a fraction of the sustained capacity
for many minutes, with a burst of activity events every few minutes; worker memory and
lag sampled over time, plotted (PNG) and summarised; nothing partial, nothing lost.

``python -m consumer.bench.soak [--minutes 20] [--workers 2] [--load 0.8]
[--burst-every-s 180] [--burst-events 300] [--out bench-results/soak]``

Capacity is measured first: a backlog of mixed events drained by the same service. The
paced load then runs at ``--load`` of it, each burst on top. Lag is the events produced
and not yet predicted (a prediction per event is how the service answers). Blocks for
the whole run; runs against the configured cluster or the local broker.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from confluent_kafka import Producer

from consumer.bench.kafkaio import (
    DeliveryLog,
    PredictionReader,
    Record,
    TopicRegistry,
    cycle,
    produce_records,
    timed_producer,
    wait_group_stable,
)
from consumer.bench.service import Service, free_port, service_env
from consumer.bench.workload import build_workload
from consumer.errors import MoodstreamError
from consumer.settings import Settings

SAMPLE_EVERY_S = 5.0
CAPACITY_EVENTS = 6000
#: After the load, the drain goes on while the backlog keeps shrinking: it stops once no
#: prediction arrived for this long (what is still missing then is lost).
DRAIN_STALL_S = 60.0


@dataclass
class Soak:
    producer: Producer
    topic: str
    reader: PredictionReader
    service: Service
    produced: set[tuple[int, int]] = field(default_factory=set)
    samples: list[dict[str, Any]] = field(default_factory=list)
    bursts_at_s: list[float] = field(default_factory=list)

    def send(self, records: Iterator[Record], count: int) -> None:
        log: DeliveryLog = produce_records(self.producer, self.topic, records, count)
        self.produced |= set(log.create_ms)

    def sample(self, elapsed_s: float) -> None:
        self.reader.poll(0.2)
        memory = self.service.memory()
        behind = len(self.produced - self.reader.append_ms.keys())
        self.samples.append(
            {
                "t_s": round(elapsed_s, 1),
                "lag_events": behind,
                "workers_rss_mb": memory.get("workers_rss_mb"),
                "total_pss_mb": memory.get("total_pss_mb"),
            }
        )


def capacity(soak: Soak, records: Iterator[Record]) -> float:
    """Mixed events per second the service drains (a backlog produced at once)."""
    before = set(soak.reader.append_ms)
    soak.send(records, CAPACITY_EVENTS)
    started = time.monotonic()
    while len(soak.reader.append_ms.keys() - before) < CAPACITY_EVENTS:
        soak.reader.poll(0.5)
        if time.monotonic() - started > 600 or not soak.service.alive():
            raise RuntimeError("the capacity drain did not finish")
    return CAPACITY_EVENTS / (time.monotonic() - started)


def run(args: argparse.Namespace) -> dict[str, Any]:
    from consumer.kafka.config import client_config
    from consumer.localkafka.bootstrap import local_bootstrap

    settings = Settings()
    bootstrap = settings.kafka.bootstrap_servers.strip() or local_bootstrap(settings)
    client = dict(client_config(settings.kafka, bootstrap))
    registry = TopicRegistry(client)
    topics = registry.topic_set("soak")
    group = f"soak-{uuid.uuid4().hex[:6]}"
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    env = service_env(settings, bootstrap, topics, group, free_port())
    service = Service(env, args.workers, out / "service.log")
    soak = Soak(
        timed_producer(client),
        topics.features,
        PredictionReader(client, topics.predictions),
        service,
    )
    mixed = cycle(build_workload("mixed", 1000).records)
    bursts = cycle(build_workload("activity_backlog", 200).records)
    try:
        service.wait_ready()
        wait_group_stable(client, group, args.workers, topics.features, 60.0, service.alive)
        rate = capacity(soak, mixed)
        print(f"[soak] capacity {rate:.1f} mixed events/s; load {args.load * rate:.1f}/s")
        result = _paced(soak, mixed, bursts, rate * args.load, args)
        result["capacity_events_per_s"] = round(rate, 1)
        result["exit_code"] = service.stop()
    finally:
        if service.alive():
            service.stop()
        soak.reader.close()
        registry.delete_all()
    return result


def _paced(
    soak: Soak,
    mixed: Iterator[Record],
    bursts: Iterator[Record],
    rate: float,
    args: argparse.Namespace,
) -> dict[str, Any]:
    started = time.monotonic()
    next_sample, next_burst = 0.0, args.burst_every_s
    while (elapsed := time.monotonic() - started) < args.minutes * 60:
        soak.send(mixed, max(1, round(rate)))  # one second of load, paced below
        if elapsed >= next_burst:
            soak.send(bursts, args.burst_events)
            soak.bursts_at_s.append(round(elapsed, 1))
            next_burst += args.burst_every_s
        if elapsed >= next_sample:
            soak.sample(elapsed)
            next_sample += SAMPLE_EVERY_S
        time.sleep(max(0.0, started + elapsed + 1.0 - time.monotonic()))
    drain_started = last_progress = time.monotonic()
    seen = len(soak.reader.append_ms)
    while soak.produced - soak.reader.append_ms.keys():
        soak.sample(time.monotonic() - started)
        if len(soak.reader.append_ms) > seen:
            seen, last_progress = len(soak.reader.append_ms), time.monotonic()
        elif time.monotonic() - last_progress > DRAIN_STALL_S:
            break
        time.sleep(SAMPLE_EVERY_S)
    missing = len(soak.produced - soak.reader.append_ms.keys())
    rss = [max(s["workers_rss_mb"] or [0.0]) for s in soak.samples]
    return {
        "minutes": args.minutes,
        "workers": args.workers,
        "load": args.load,
        "burst_every_s": args.burst_every_s,
        "burst_events": args.burst_events,
        "events": len(soak.produced),
        "lost": missing,
        "partial": soak.reader.partial,
        "duplicates": soak.reader.duplicates,
        "bursts_at_s": soak.bursts_at_s,
        "max_lag_events": max(s["lag_events"] for s in soak.samples),
        "drain_after_load_s": round(time.monotonic() - drain_started, 1),
        "worker_rss_mb_first": rss[0],
        "worker_rss_mb_max": max(rss),
        "worker_rss_mb_last": rss[-1],
        "samples": soak.samples,
    }


def plot(result: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    samples = result["samples"]
    t = [s["t_s"] / 60 for s in samples]
    fig, (mem, lag) = plt.subplots(2, 1, figsize=(10, 6), sharex=True)
    workers = max(len(s["workers_rss_mb"] or []) for s in samples)
    for w in range(workers):
        mem.plot(t, [(s["workers_rss_mb"] or [None] * workers)[w] for s in samples], label=f"w{w}")
    mem.set_ylabel("worker RSS (MB)")
    mem.legend(loc="lower right")
    lag.plot(t, [s["lag_events"] for s in samples], color="tab:red")
    for at in result["bursts_at_s"]:
        lag.axvline(at / 60, color="grey", linestyle=":", linewidth=1)
    lag.set_ylabel("events not yet predicted")
    lag.set_xlabel("minutes (dotted: activity bursts)")
    fig.suptitle(
        f"soak: {result['events']} events, lost {result['lost']}, partial "
        f"{result['partial']}, {result['workers']} workers at {result['load']:.0%}"
    )
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m consumer.bench.soak")
    parser.add_argument("--minutes", type=float, default=20.0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--load", type=float, default=0.8)
    parser.add_argument("--burst-every-s", type=float, default=180.0)
    parser.add_argument("--burst-events", type=int, default=600)
    parser.add_argument("--out", type=Path, default=Path("bench-results/soak"))
    args = parser.parse_args()
    try:
        result = run(args)
    except MoodstreamError as exc:  # no broker, a setting refused: one line, not a traceback
        print(f"moodstream soak: {exc}", file=sys.stderr)
        return 4

    (args.out / "soak.json").write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    plot(result, args.out / "soak.png")
    summary = {k: v for k, v in result.items() if k != "samples"}
    print(json.dumps(summary, indent=2))
    return 0 if result["lost"] == 0 and result["partial"] == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
