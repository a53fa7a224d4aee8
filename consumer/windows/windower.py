"""The windows stage's logic: samples and day features in, revisions of user-days out.

Per user and local day ``D`` (in the user's zone, ``days``):

- **Day features** go out at once: revision 0 of (user, ``D``) carries them alone (or
  with the week, if ``D``'s week has already closed).
- **The week ending D closes** (``Trigger``) when ``D`` is complete (every real minute
  present), or the user's stream time (the end of their newest sample) passes the end of
  ``D`` plus ``allowed_lateness_s``, or (``on_timers``) the user sent no samples for
  ``idle_close_s`` of wall-clock time and ``D`` has ended. Then the week (``weeks``) goes
  out with the day's features, if any, as the next revision; a week whose coverage is
  below ``min_coverage`` is not scored (``weeks_not_scored:low_coverage``), and the
  day's features stand alone.
- **Duplicates change nothing**; a re-sent minute with another value replaces it. A
  sample that changes a minute of a closed week sends that week again as the next
  revision (only when what it says changed), unless ``revisions`` is off: then it is
  counted as ``late_samples`` (its minutes still count for weeks not yet closed).
- **Retention**: once the user's stream time passes the end of ``D + 6`` plus the
  lateness, no open week can hold ``D`` any more: samples or features for it are refused
  (``InvalidEvent`` ``too_old``). Its minutes and features are kept 6 days longer (until
  the end of ``D + 12`` plus the lateness), because a day still taken may still close or
  revise its week, which reaches back to ``D``: a week closed by lateness, or revised,
  is always whole. A user who stopped sending is cleared the same way against the wall
  clock (``on_timers``).
- Samples starting more than ``max_future_s`` past the wall clock: ``future``.

A user's zone is the one of their first sample (or ``default_tz``); a later sample naming
another zone is counted (``zone_changed``) and its instants placed in the first zone's
days. Counters accumulate in ``counts`` (for the stage's metrics): ``samples``,
``minutes_stored``, ``duplicate_samples``, ``minutes_too_old``, ``zone_changed``,
``late_samples``, ``revisions_too_old`` (a closed week whose oldest day has left the
retention is not revised: it could not be assembled whole), ``weeks_closed:<trigger>``,
``weeks_not_scored:low_coverage``, ``events_out:<trigger>``, ``days_dropped``. Pure apart
from the injected ``Store`` and ``Clock``; not thread-safe; every call blocks on the store
only. After an unexpected exception the caller must ``WindowState.discard_unwritten``
(objects may be half-changed).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import date, timedelta
from typing import Final

import numpy as np
import numpy.typing as npt

from consumer.clock import Clock
from consumer.errors import InvalidEvent
from consumer.settings import WindowsSettings
from consumer.windows.days import (
    DAY_SLOTS,
    WEEK_DAYS,
    RecentDay,
    day_length,
    day_range,
    wall_slots,
    week_days,
)
from consumer.windows.daystate import DayMinutes
from consumer.windows.emission import Emission, Trigger
from consumer.windows.fast_samples import MinuteRecord, minute_array
from consumer.windows.store import DayStatus, LazyDay, UserMeta, WindowState
from consumer.windows.weeks import WEEK_SLOTS, Revision, Week, assemble, digest, said_before
from schemas import ActivitySamples, FeatureEvent

__all__ = ["Emission", "Trigger", "Windower"]  # Emission and Trigger: from emission

_WEEK_SPAN: Final = timedelta(days=WEEK_DAYS - 1)
#: A user's timer moves forward at most once a minute (each move is two store writes).
_TIMER_SLACK_S: Final = 60


class Windower:
    """The logic of the windows stage over a ``WindowState`` (see the module doc)."""

    def __init__(self, state: WindowState, settings: WindowsSettings, clock: Clock) -> None:
        self._state = state
        self._settings = settings
        self._clock = clock
        self._lateness_min = int(settings.allowed_lateness_s // 60)
        self.counts: Counter[str] = Counter()
        self._floor_days = RecentDay()  # the retention floor is looked up 3 times a record
        self._sample_days = RecentDay()  # the day of a record's minutes
        #: The days the record being handled read or changed (its weeks read them here).
        self._fresh: dict[date, DayMinutes] = {}
        #: The day whose features ``on_day_features`` is storing (before they are sent).
        self._features_day: date | None = None

    def on_samples(self, samples: ActivitySamples | MinuteRecord) -> list[Emission]:
        """Store a record's minutes (a validated record, or what ``intake.decode_minutes``
        read of one); the revisions it causes. Raises ``InvalidEvent`` (``future``,
        ``too_old``) for a record that must be dead-lettered; state unchanged."""
        now_s = self._clock.now().timestamp()
        start_s = samples.start.timestamp()  # whole minutes (the contract): exact
        if start_s > now_s + self._settings.max_future_s:
            raise InvalidEvent("future", f"samples start at {samples.start.isoformat()}")
        user = samples.user_id
        meta = self._state.meta(user) or UserMeta()
        tz = self._zone_of(meta, samples.tz)
        start = int(start_s) // 60
        if isinstance(samples, MinuteRecord):
            values, counts = samples.minutes, samples.counts
        else:
            values, counts = minute_array(samples), None
        try:
            changed, complete = self._store_minutes(user, meta, tz, start, values, counts)
            meta.tz = tz
            self.counts["samples"] += 1
            meta.stream_minute = max(meta.stream_minute, start + len(values))
            meta.seen_s = now_s
            out = self._revise(user, meta, tz, changed)
            out += self._close_due(user, meta, tz, complete)
        finally:
            self._fresh = {}
        self._retain(user, meta, tz, meta.stream_minute)
        self._save(user, meta, int(meta.seen_s + self._settings.idle_close_s))
        return out

    def on_day_features(self, event: FeatureEvent) -> list[Emission]:
        """Store the day's features; they go out at once (with the week if it closed).
        Raises ``InvalidEvent`` (``no_features``, ``future``: a day after tomorrow
        anywhere, ``too_old``); state unchanged then."""
        if event.features is None:
            raise InvalidEvent("no_features", "a day-features event needs its features")
        user, day = event.user_id, event.as_of
        now = self._clock.now()
        if day > (now + timedelta(seconds=self._settings.max_future_s)).date() + timedelta(1):
            raise InvalidEvent("future", f"features of {day} are in the future")
        meta = self._state.meta(user)
        if meta is None:  # a new user: their idle clock starts now
            meta = UserMeta(seen_s=now.timestamp())
        tz = meta.tz or self._settings.default_tz
        floor = self._floor(meta, tz)
        if floor is not None and day < floor:
            raise InvalidEvent("too_old", f"features of {day} are older than the retention")
        self._state.put_features(user, day, dict(event.features))
        meta.days.setdefault(day, DayStatus())
        self._features_day = day  # stored, not sent yet: ``_emit`` must read them
        try:
            out = self._close_due(user, meta, tz, [])
            week = self._covered_week(user, meta, day, tz) if meta.days[day].closed else None
            out += self._emit(user, meta, day, Trigger.FEATURES, week)
        finally:
            self._features_day = None
        self._save(user, meta, int(meta.seen_s + self._settings.idle_close_s))
        return out

    def on_timers(self) -> list[Emission]:
        """Close the open days of users idle for ``idle_close_s`` (days that have ended) and
        clear what the wall clock says no open week can need. Call it every few seconds."""
        now_s = self._clock.now().timestamp()
        out: list[Emission] = []
        for user, when_s in self._state.due(now_s):
            meta = self._state.meta(user)
            self._state.take_timer(user, meta, when_s)
            if meta is None:
                continue
            idle_until = int(meta.seen_s + self._settings.idle_close_s)
            if idle_until > now_s:  # sent something since the timer was set
                self._save(user, meta, idle_until)
                continue
            out += self._close_idle(user, meta, int(now_s) // 60)
        return out

    def _close_idle(self, user: str, meta: UserMeta, now_minute: int) -> list[Emission]:
        tz = meta.tz or self._settings.default_tz
        out: list[Emission] = []
        for day in meta.open_days():
            if day_range(day, tz)[1] <= now_minute:
                out += self._close(user, meta, day, tz, Trigger.IDLE)
        self._retain(user, meta, tz, now_minute)
        self._save(user, meta, self._next_timer(meta, tz, now_minute))
        return out

    def _zone_of(self, meta: UserMeta, sample_tz: str | None) -> str:
        """The zone of the user's days: the first sample's (``meta`` is not changed)."""
        if meta.tz is None:
            return sample_tz or self._settings.default_tz
        if sample_tz is not None and sample_tz != meta.tz:
            self.counts["zone_changed"] += 1
        return meta.tz

    def _store_minutes(
        self,
        user: str,
        meta: UserMeta,
        tz: str,
        start: int,
        values: npt.NDArray[np.float32],
        counts: npt.NDArray[np.uint16] | None,
    ) -> tuple[list[date], list[date]]:
        """Merge the minutes into their days; (days changed, days now complete). Raises
        ``too_old`` (before writing anything) when every minute is older than retention.
        ``counts``: ``values`` as uint16 when the reader knows them whole (or None)."""
        floor = self._floor(meta, tz)
        parts = self._sample_days.split(start, len(values), tz)
        kept = [p for p in parts if floor is None or p[0] >= floor]
        if not kept:
            raise InvalidEvent("too_old", "every minute is older than the retention")
        self.counts["minutes_too_old"] += len(values) - sum(p[3] - p[2] for p in kept)
        changed, complete = [], []
        for day, offset, first, end in kept:
            # a day not in the user's record has nothing stored (no read: most are new)
            stored = self._state.day(user, day) if day in meta.days else None
            length = day_length(day, tz)
            # a new day in one record of whole counts (a day-sized record): the day as
            # that merge would make it, its stored form known (not worked out again)
            whole = counts if stored is None and end - first == length else None
            new_day = whole is not None
            if whole is not None:
                minutes = DayMinutes.whole_day(values[first:end], whole[first:end])
            else:
                minutes = stored or DayMinutes.empty(length)
            self._fresh[day] = minutes
            status = meta.days.setdefault(day, DayStatus())
            if new_day or minutes.merge(offset, values[first:end]):
                whole_day = minutes.complete
                # a complete day (a day-sized record's) rarely changes again: not held
                # decoded, so that the users' records stay in the cache
                self._state.put_day(user, day, minutes, hold=not whole_day)
                self.counts["minutes_stored"] += end - first
                changed.append(day)
                if whole_day and not status.closed:
                    complete.append(day)
        if not changed:
            self.counts["duplicate_samples"] += 1
        return changed, complete

    def _revise(self, user: str, meta: UserMeta, tz: str, changed: list[date]) -> list[Emission]:
        """Revisions of the closed weeks that hold a changed day."""
        closed = [day for day, status in meta.days.items() if status.closed] if changed else []
        if not closed or max(closed) < min(changed):  # a new day (a backfill's): nothing
            return []
        hit = {day for day in closed if any(0 <= (day - c).days < WEEK_DAYS for c in changed)}
        floor = self._floor(meta, tz)
        # kept down to floor - 6 (``_retain``): a week ending before the floor may miss a day
        gone = {day for day in hit if floor is not None and day < floor}
        if gone:  # their oldest days left the retention: a revision would miss them
            self.counts["revisions_too_old"] += len(gone)
            hit -= gone
        if not hit:
            return []
        if not self._settings.revisions:
            self.counts["late_samples"] += 1
            return []
        out: list[Emission] = []
        for day in sorted(hit):
            week = self._covered_week(user, meta, day, tz)
            out += self._emit(user, meta, day, Trigger.REVISION, week)
        return out

    def _close_due(
        self, user: str, meta: UserMeta, tz: str, complete: list[date]
    ) -> list[Emission]:
        out: list[Emission] = []
        for day in meta.open_days():
            if day in complete:
                out += self._close(user, meta, day, tz, Trigger.COMPLETE)
            elif meta.stream_minute >= day_range(day, tz)[1] + self._lateness_min:
                out += self._close(user, meta, day, tz, Trigger.LATENESS)
        return out

    def _close(
        self, user: str, meta: UserMeta, day: date, tz: str, trigger: Trigger
    ) -> list[Emission]:
        meta.days[day].closed = True
        self.counts[f"weeks_closed:{trigger}"] += 1
        week = self._covered_week(user, meta, day, tz)
        if week is None:
            self.counts["weeks_not_scored:low_coverage"] += 1
        return self._emit(user, meta, day, trigger, week)

    def _covered_week(self, user: str, meta: UserMeta, day: date, tz: str) -> Week | None:
        """The week ending ``day`` when its coverage reaches ``min_coverage``, else None.
        Without a clock change in the week its coverage is bounded first by the days the
        user has (a day not in ``meta.days`` has no minutes stored: at most 1,440 present
        slots per day held, nothing read), then counted from the days' presence bitmaps
        (most closes of a backfill are not covered: no values decoded). Each day is read
        from the store once."""
        days: Sequence[date] = week_days(day)
        plain = all(wall_slots(d, tz) is None for d in days)
        if plain:
            days = [d for d in days if d in meta.days]
            if len(days) * DAY_SLOTS / WEEK_SLOTS < self._settings.min_coverage:
                return None
        found = {d: LazyDay(self._fresh[d]) for d in days if d in self._fresh}
        found.update(self._state.peek_days(user, [d for d in days if d not in found]))
        if plain:
            present = sum(lazy.present_count for lazy in found.values())
            if present / WEEK_SLOTS < self._settings.min_coverage:
                return None
        week = assemble({d: lazy.source for d, lazy in found.items()}, day, tz)
        return week if week.coverage >= self._settings.min_coverage else None

    def _emit(
        self, user: str, meta: UserMeta, day: date, trigger: Trigger, week: Week | None
    ) -> list[Emission]:
        """The next revision of (user, day) when what it says changed; else nothing.
        ``week``: the closed week when covered enough, else None."""
        status = meta.days[day]
        # features go out at once (revision 0): a day that never sent one has none stored
        # (but the day ``on_day_features`` is storing), so most closes (a backfill's days)
        # need no read of the store
        unsent = status.revision < 0 and day != self._features_day
        features = None if unsent else self._state.features(user, day)
        if features is None and week is None:
            return []
        said = digest(features, week)
        if said == status.digest or said_before(status.digest, features, week):
            return []
        status.revision += 1
        status.digest = said
        says = Revision(user, day, status.revision, features, week, self._clock.now())
        self.counts[f"events_out:{trigger}"] += 1
        return [Emission(says, trigger)]

    def _floor(self, meta: UserMeta, tz: str) -> date | None:
        """The oldest day still retained (None: a user without samples yet)."""
        if meta.stream_minute == 0:
            return None
        return self._floor_at(meta.stream_minute - self._lateness_min, tz)

    def _floor_at(self, minute: int, tz: str) -> date:
        """The oldest day a week still open at ``minute`` (stream time less lateness)
        holds."""
        return self._floor_days.of(minute, tz) - _WEEK_SPAN

    def _retain(self, user: str, meta: UserMeta, tz: str, reference_minute: int) -> None:
        # Kept 6 days below the floor: a day taken at the floor may still close (or revise)
        # its week, which reaches back 6 days (window + lateness from that week's end).
        floor = self._floor_at(reference_minute - self._lateness_min, tz) - _WEEK_SPAN
        for day in [d for d in meta.days if d < floor]:
            self._state.drop_day(user, day)
            del meta.days[day]
            self.counts["days_dropped"] += 1

    def _next_timer(self, meta: UserMeta, tz: str, now_minute: int) -> int:
        """When a user who stopped sending next needs a look: their next open day's end,
        else when their newest day leaves the retention; 0 with no days left."""
        ends = [day_range(d, tz)[1] for d in meta.open_days()]
        if not ends and meta.days:
            ends = [day_range(max(meta.days) + 2 * _WEEK_SPAN, tz)[1] + self._lateness_min]
        return max(min(ends), now_minute + 1) * 60 if ends else 0

    def _save(self, user: str, meta: UserMeta, timer_s: int) -> None:
        if not meta.days:
            self._state.forget(user, meta)
            return
        if timer_s and abs(timer_s - meta.timer_s) < _TIMER_SLACK_S and meta.timer_s:
            timer_s = meta.timer_s
        self._state.set_timer(user, meta, timer_s)
        self._state.put_meta(user, meta)
