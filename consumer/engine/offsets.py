"""Which offsets may be committed: per partition, the contiguous prefix of consumed offsets
whose every output (prediction, alert, dead letter, overflow copy) the broker acknowledged.

Pure logic; not thread-safe (delivery callbacks run on the poll loop's thread, inside
``producer.poll``/``flush``, so one owner is enough).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

TopicPartitionKey = tuple[str, int]


@dataclass
class _PartitionLedger:
    order: deque[int] = field(default_factory=deque)
    pending: dict[int, int] = field(default_factory=dict)
    done_through: int | None = None  # highest offset whose whole prefix is acknowledged
    notes: dict[int, int] = field(default_factory=dict)
    done_note: int = 0  # the note of ``done_through``

    def advance(self) -> None:
        while self.order and self.pending.get(self.order[0], 0) == 0:
            offset = self.order.popleft()
            self.pending.pop(offset, None)
            self.done_through = offset
            self.done_note = self.notes.pop(offset, 0)


class OffsetTracker:
    """Tracks outputs per source offset and yields commit positions (next offset to read)."""

    def __init__(self) -> None:
        self._ledgers: dict[TopicPartitionKey, _PartitionLedger] = {}
        self._committed: dict[TopicPartitionKey, int] = {}

    def track(self, tp: TopicPartitionKey, offset: int, outputs: int, note: int = 0) -> None:
        """Register a consumed offset that produced ``outputs`` records still to be acknowledged.

        Offsets of one partition must be tracked in increasing order. ``note`` rides along
        (the invalid-event streak at this offset) and is read back with ``note``.
        """
        if outputs < 0:
            raise ValueError("outputs must be >= 0")
        ledger = self._ledgers.get(tp)
        if ledger is None:  # not setdefault: that would build a ledger every call
            ledger = self._ledgers[tp] = _PartitionLedger()
        if ledger.order and offset <= ledger.order[-1]:
            raise ValueError(f"offset {offset} of {tp} tracked out of order")
        ledger.order.append(offset)
        ledger.pending[offset] = outputs
        if note:
            ledger.notes[offset] = note
        if not outputs:  # else the head is as it was: still waiting (done heads are popped)
            ledger.advance()

    def add(self, tp: TopicPartitionKey, offset: int, outputs: int) -> None:
        """``outputs`` more records of a tracked offset now wait for acknowledgement."""
        ledger = self._ledgers.get(tp)
        if ledger is not None and offset in ledger.pending:
            ledger.pending[offset] += outputs

    def ack(self, tp: TopicPartitionKey, offset: int) -> None:
        """One output of ``offset`` was acknowledged. Unknown partitions (revoked) are ignored."""
        ledger = self._ledgers.get(tp)
        if ledger is None:
            return
        left = ledger.pending.get(offset)
        if left is None:
            return
        ledger.pending[offset] = left - 1 if left > 1 else 0
        if left <= 1 and ledger.order[0] == offset:  # only a done head moves the prefix
            ledger.advance()

    def inflight(self) -> int:
        """Number of consumed offsets not yet fully acknowledged (all partitions)."""
        return sum(len(ledger.order) for ledger in self._ledgers.values())

    def oldest_pending(self) -> dict[TopicPartitionKey, int]:
        """Per partition, the oldest consumed offset not yet fully acknowledged (where a
        restart would read again); partitions with nothing pending are absent."""
        return {tp: ledger.order[0] for tp, ledger in self._ledgers.items() if ledger.order}

    def committable(
        self, partitions: set[TopicPartitionKey] | None = None
    ) -> dict[TopicPartitionKey, int]:
        """Commit positions (last done offset + 1) that moved since the last ``mark_committed``."""
        result: dict[TopicPartitionKey, int] = {}
        for tp, ledger in self._ledgers.items():
            if partitions is not None and tp not in partitions:
                continue
            if ledger.done_through is None:
                continue
            position = ledger.done_through + 1
            if self._committed.get(tp, -1) < position:
                result[tp] = position
        return result

    def note(self, tp: TopicPartitionKey) -> int:
        """The note of the last acknowledged offset of ``tp`` (0 when none)."""
        ledger = self._ledgers.get(tp)
        return ledger.done_note if ledger is not None else 0

    def mark_committed(self, positions: dict[TopicPartitionKey, int]) -> None:
        for tp, position in positions.items():
            self._committed[tp] = max(self._committed.get(tp, -1), position)

    def forget(self, partitions: set[TopicPartitionKey]) -> None:
        """Drop all state of revoked partitions (their pending acks are then ignored)."""
        for tp in partitions:
            self._ledgers.pop(tp, None)
            self._committed.pop(tp, None)


@dataclass(frozen=True)
class CommitPolicy:
    """When to commit: every ``interval_s`` seconds or ``every_messages`` messages, and as
    soon as ``settle_s`` has passed once nothing is in flight (an idle or trickling stream
    commits promptly instead of leaving acknowledged offsets uncommitted)."""

    interval_s: float
    every_messages: int
    settle_s: float = 0.1

    def __post_init__(self) -> None:
        if self.interval_s <= 0 or self.every_messages < 1 or self.settle_s < 0:
            raise ValueError("commit interval must be > 0 s, every_messages >= 1, settle_s >= 0")

    def due(
        self, now: float, last_commit_at: float, messages_since: int, *, settled: bool = False
    ) -> bool:
        """``messages_since``: offsets consumed since the last commit and not yet committed;
        ``settled``: every consumed offset is acknowledged."""
        if messages_since <= 0:
            return False
        elapsed = now - last_commit_at
        return (
            messages_since >= self.every_messages
            or elapsed >= self.interval_s
            or (settled and elapsed >= self.settle_s)
        )


STREAK_PREFIX = "moodstream.invalid_streak="


def streak_metadata(streak: int) -> str:
    """Commit metadata carrying a partition's run of consecutive invalid events, so the
    poison-flood count travels with the partition to its next owner. Pure."""
    return f"{STREAK_PREFIX}{streak}"


def parse_streak(metadata: str | None) -> int:
    """The streak in commit metadata written by ``streak_metadata``; 0 for anything else."""
    if not metadata or not metadata.startswith(STREAK_PREFIX):
        return 0
    digits = metadata[len(STREAK_PREFIX) :]
    return int(digits) if digits.isdigit() else 0
