"""The chaos suite's accounting (pure) and coordinator placement."""

from __future__ import annotations

from consumer.chaos.accounting import FaultWindow, fault_stats, longest_gap_s, totals
from consumer.chaos.faults import java_hash_partition
from consumer.chaos.report import passed, table
from consumer.chaos.suite import RunResult


def test_java_hash_partition_matches_kafka_utils_abs_hashcode() -> None:
    assert java_hash_partition("ab", 10_000) == 3105  # 97 * 31 + 98
    # "polygenelubricants".hashCode() is Integer.MIN_VALUE; Utils.abs masks it to 0
    assert java_hash_partition("polygenelubricants", 50) == 0
    assert java_hash_partition("moodstream", 6) == java_hash_partition("moodstream", 6)


def test_longest_gap_counts_the_window_edges() -> None:
    assert longest_gap_s([1.0, 2.0, 9.0], 0.0, 10.0) == 7.0
    assert longest_gap_s([], 0.0, 4.0) == 4.0
    assert longest_gap_s([5.0], 0.0, 6.0) == 5.0


def test_fault_stats_counts_lost_duplicates_and_recovery() -> None:
    acked = {"a": 1.0, "b": 2.0, "c": 3.0, "d": 12.0, "outside": 30.0}
    predictions = [("a", 1.5), ("b", 8.0), ("b", 8.5), ("d", 13.0), ("outside", 31.0)]
    window = FaultWindow("leader_kill", start_s=0.0, heal_s=5.0, end_s=20.0)
    stats = fault_stats(window, acked, predictions)
    assert (stats.events, stats.lost, stats.duplicates) == (4, 1, 1)  # c lost, b twice
    assert stats.recovery_s is None  # c, acknowledged before the heal, never came
    assert stats.longest_gap_s == 7.0  # 1.5 -> 8.0
    healed = fault_stats(window, {"a": 1.0, "b": 2.0}, predictions)
    assert healed.recovery_s == 3.0  # b's first prediction at 8.0, heal at 5.0
    assert totals(acked, predictions) == (5, 1, 1)


def test_the_pass_rule_and_the_table() -> None:
    ok = RunResult("exactly_once", "classic", events=10)
    dup = RunResult("exactly_once", "classic", events=10, duplicates=1)
    alo_dup = RunResult("at_least_once", "classic", events=10, duplicates=3)
    died = RunResult("at_least_once", "classic", events=10, service_exit=1)
    assert passed(ok) and passed(alo_dup)
    assert not passed(dup) and not passed(died)
    assert not passed(RunResult("at_least_once", "classic", events=10, lost=1))
    assert "EXITED 1" in table([died])
