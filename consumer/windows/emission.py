"""What the windows stage sends: one revision of one user-day (``Emission``) and what
triggered it (``Trigger``; see ``windower``). Pure."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from functools import cached_property

from consumer.windows.weeks import Revision
from schemas import FeatureEvent


class Trigger(StrEnum):
    FEATURES = "features"  # the day's features arrived
    COMPLETE = "complete"  # every minute of the day is present
    LATENESS = "lateness"  # the stream passed the day's end plus the allowed lateness
    IDLE = "idle"  # the user sent nothing for idle_close_s
    REVISION = "revision"  # a late sample changed a closed week


@dataclass(frozen=True, eq=False)
class Emission:
    """One revision of one user-day: what the event to publish says (``says.json()``: its
    bytes), the revision and what triggered it. Equal when their events are."""

    says: Revision
    trigger: Trigger

    @property
    def revision(self) -> int:
        return self.says.revision

    @cached_property
    def event(self) -> FeatureEvent:
        """The complete ``FeatureEvent`` (built on first use: a 10,080-item list)."""
        return self.says.event()

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Emission):
            return NotImplemented
        return (self.event, self.revision, self.trigger) == (
            other.event,
            other.revision,
            other.trigger,
        )

    __hash__ = None  # type: ignore[assignment]
