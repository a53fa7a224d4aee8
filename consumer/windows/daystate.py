"""One user's local day of minutes: the value of each real minute and which are present.

Values are float32 (exact for whole counts below 2^24; PAT runs in float32 anyway). A
day encodes compactly for the store: a 4-byte header (format, flags, minutes), the
presence bitmap (one bit per minute: 180 bytes for 1,440) and the values, the whole
zlib-compressed when that is smaller (absent and idle minutes are zeros). A full day of
non-zero minutes is at most 5,944 bytes; see ``docs/architecture.md`` for measurements.

Pure; not thread-safe (one loop owns a day at a time).
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt

_FORMAT: Final = 1
_HEADER: Final = struct.Struct("<BBH")  # format, flags, minutes
_ZLIB: Final = 1
_ZLIB_LEVEL: Final = 1
MAX_DAY_MINUTES: Final = 1_560  # the longest local day any zone has (26 h)


class CorruptDay(ValueError):
    """Stored bytes that are not a day this code wrote (wrong format, length or checksum)."""


@dataclass
class DayMinutes:
    """The real minutes of one local day (``len(values)`` is the day's length)."""

    values: npt.NDArray[np.float32]
    present: npt.NDArray[np.bool_]

    @classmethod
    def empty(cls, minutes: int) -> DayMinutes:
        if not 0 < minutes <= MAX_DAY_MINUTES:
            raise ValueError(f"a day of {minutes} minutes")
        return cls(np.zeros(minutes, np.float32), np.zeros(minutes, np.bool_))

    @property
    def minutes(self) -> int:
        return len(self.values)

    @property
    def present_count(self) -> int:
        return int(np.count_nonzero(self.present))

    @property
    def complete(self) -> bool:
        """Every real minute of the day is present."""
        return bool(self.present.all())

    def merge(self, offset: int, values: npt.NDArray[np.float32]) -> bool:
        """Store ``values`` from minute ``offset`` on (a re-sent minute replaces the old
        value). Returns whether anything changed: a duplicate changes nothing. Raises
        ValueError when the values run past the day."""
        end = offset + len(values)
        if offset < 0 or end > self.minutes:
            raise ValueError(f"minutes {offset}-{end} outside a day of {self.minutes}")
        window = slice(offset, end)
        same = self.present[window].all() and np.array_equal(self.values[window], values)
        if same:
            return False
        self.values[window] = values
        self.present[window] = True
        return True

    def encode(self) -> bytes:
        """The compact bytes of the day (see the module doc). Pure."""
        body = np.packbits(self.present).tobytes() + self.values.astype("<f4").tobytes()
        packed = zlib.compress(body, _ZLIB_LEVEL)
        if len(packed) < len(body):
            return _HEADER.pack(_FORMAT, _ZLIB, self.minutes) + packed
        return _HEADER.pack(_FORMAT, 0, self.minutes) + body

    @classmethod
    def decode(cls, raw: bytes) -> DayMinutes:
        """The day ``encode`` wrote. Raises ``CorruptDay`` on anything else."""
        if len(raw) < _HEADER.size:
            raise CorruptDay("a stored day shorter than its header")
        version, flags, minutes = _HEADER.unpack_from(raw)
        if version != _FORMAT or not 0 < minutes <= MAX_DAY_MINUTES:
            raise CorruptDay(f"stored day format {version} of {minutes} minutes")
        body = raw[_HEADER.size :]
        if flags & _ZLIB:
            try:
                body = zlib.decompress(body)
            except zlib.error as exc:
                raise CorruptDay(f"stored day does not decompress: {exc}") from None
        bitmap = (minutes + 7) // 8
        if len(body) != bitmap + 4 * minutes:
            raise CorruptDay(f"stored day of {len(body)} bytes for {minutes} minutes")
        present = np.unpackbits(np.frombuffer(body, np.uint8, bitmap), count=minutes)
        values = np.frombuffer(body, "<f4", minutes, bitmap).astype(np.float32)
        return cls(values, present.astype(np.bool_))
