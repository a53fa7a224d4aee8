"""One user's local day of minutes: the value of each real minute and which are present.

Values are float32 (exact for whole counts below 2^24; PAT runs in float32 anyway). A
day encodes compactly for the store and its changelog, without a general-purpose
compressor (zlib cost about 95 µs a day, a fifth of the stage's CPU; RocksDB compresses
its blocks with LZ4 and the changelog's producer with lz4 anyway). Format 2: a 4-byte
header (format, flags, minutes); the presence bitmap (one bit per minute, 180 bytes for
1,440), left out when every minute is present; the bitmap of non-zero minutes; and the
non-zero values only, as uint16 when they are all whole numbers below 65,536 (step
counts), else float32, stored byte plane by byte plane (all low bytes, then the next...)
so that RocksDB's LZ4 finds the repeats. A day of whole counts at least half of them
non-zero (an active day of steps) is stored dense instead (flag 8): the presence bitmap
(if needed) and every minute's uint16 in two planes, no bitmap of the non-zero minutes;
up to 900 bytes more than sparse, but it decodes (a covered week reads seven days) and
encodes in about half the time. At most 6,124 bytes for 1,440 minutes.
Format 1 (presence bitmap, float32 values, zlib level 1 when smaller), which earlier
versions wrote to the store and the changelog, still decodes. See
``docs/architecture.md`` for measurements.

Pure; not thread-safe (one loop owns a day at a time).
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass, field
from typing import Any, Final

import numpy as np
import numpy.typing as npt

_FORMAT_ZLIB: Final = 1  # decoded only
_FORMAT: Final = 2
_HEADER: Final = struct.Struct("<BBH")  # format, flags, minutes
_ZLIB: Final = 1  # format 1's flag
_ALL_PRESENT: Final = 2
_WHOLE: Final = 4  # non-zero values as uint16
_DENSE: Final = 8  # every minute's value as uint16, no bitmap of the non-zero ones
_UINT16_END: Final = 65_536
#: low byte plane + 256 x high byte plane = the uint16 values (as float32, exact).
_PLANE_WEIGHTS: Final = np.array([1, 256], np.float32)
#: What a decoded day holds besides its arrays' data (two numpy headers, the object).
_OBJECT_BYTES: Final = 300
MAX_DAY_MINUTES: Final = 1_560  # the longest local day any zone has (26 h)


class CorruptDay(ValueError):
    """Stored bytes that are not a day this code wrote (wrong format, length or checksum)."""


@dataclass
class DayMinutes:
    """The real minutes of one local day (``len(values)`` is the day's length)."""

    values: npt.NDArray[np.float32]
    present: npt.NDArray[np.bool_]
    #: ``whole_counts(values)`` when the maker knows it (a day-sized record read as
    #: whole counts: ``whole_day``), so it is not worked out again; None: not known.
    #: ``merge`` forgets it.
    counts: npt.NDArray[np.uint16] | None = field(default=None, compare=False, repr=False)

    @classmethod
    def empty(cls, minutes: int) -> DayMinutes:
        if not 0 < minutes <= MAX_DAY_MINUTES:
            raise ValueError(f"a day of {minutes} minutes")
        return cls(np.zeros(minutes, np.float32), np.zeros(minutes, np.bool_))

    @classmethod
    def whole_day(
        cls, values: npt.NDArray[np.float32], counts: npt.NDArray[np.uint16] | None
    ) -> DayMinutes:
        """A day with every minute present: ``empty(len(values))`` merged with ``values``
        (copied), and ``counts`` (``whole_counts(values)``, known to the caller) kept.
        Raises ValueError on a day's length out of range."""
        if not 0 < len(values) <= MAX_DAY_MINUTES:
            raise ValueError(f"a day of {len(values)} minutes")
        return cls(values.copy(), np.ones(len(values), np.bool_), counts)

    @property
    def minutes(self) -> int:
        return len(self.values)

    @property
    def footprint(self) -> int:
        """About the bytes of memory the decoded day holds (its arrays and objects)."""
        return self.values.nbytes + self.present.nbytes + _OBJECT_BYTES

    @property
    def present_count(self) -> int:
        return int(np.count_nonzero(self.present))

    @property
    def whole(self) -> bool:
        """Every value is a whole number below 65,536, none -0.0 (as stored: uint16)."""
        return self.counts is not None or whole_counts(self.values) is not None

    @property
    def complete(self) -> bool:
        """Every real minute of the day is present."""
        return int(np.count_nonzero(self.present)) == len(self.present)

    def merge(self, offset: int, values: npt.NDArray[np.float32]) -> bool:
        """Store ``values`` from minute ``offset`` on (a re-sent minute replaces the old
        value). Returns whether anything changed: a duplicate changes nothing. Raises
        ValueError when the values run past the day."""
        end = offset + len(values)
        if offset < 0 or end > self.minutes:
            raise ValueError(f"minutes {offset}-{end} outside a day of {self.minutes}")
        window = slice(offset, end)
        # count_nonzero: a tenth of the cost of .all() / array_equal on a few minutes
        present = np.count_nonzero(self.present[window]) == len(values)
        if present and not np.count_nonzero(self.values[window] != values):
            return False
        self.values[window] = values
        self.present[window] = True
        self.counts = None
        return True

    def encode(self) -> bytes:
        """The compact bytes of the day (format 2, see the module doc). Pure."""
        flags = 0
        parts = [b""]
        if self.complete:
            flags |= _ALL_PRESENT
        else:
            parts.append(np.packbits(self.present).tobytes())
        values = self.values
        counts = self.counts  # its non-zero values are whole exactly when it is
        if counts is None:
            counts = whole_counts(values)
        if counts is not None and 2 * np.count_nonzero(counts) >= len(values):
            parts[0] = _HEADER.pack(_FORMAT, flags | _DENSE, self.minutes)  # an active day
            return b"".join((*parts, _planes(counts)))
        if counts is not None:
            nonzero = counts != 0
            flags |= _WHOLE
            kept = _planes(counts[nonzero])
        else:
            nonzero = (values != 0) | np.signbit(values)  # -0.0 is kept exactly
            kept = _planes(values[nonzero].astype("<f4"))
        parts += [np.packbits(nonzero).tobytes(), kept]
        parts[0] = _HEADER.pack(_FORMAT, flags, self.minutes)
        return b"".join(parts)

    @staticmethod
    def count_present(raw: bytes) -> int:
        """``decode(raw).present_count``, reading only the header and the presence bitmap
        of a format-2 day. Raises ``CorruptDay`` (not every check of ``decode``)."""
        if len(raw) >= _HEADER.size:
            version, flags, minutes = _HEADER.unpack_from(raw)
            if version == _FORMAT and 0 < minutes <= MAX_DAY_MINUTES:
                if flags & _ALL_PRESENT:
                    return int(minutes)
                return _count_bits(raw, _HEADER.size, minutes)
        return DayMinutes.decode(raw).present_count

    @staticmethod
    def decode_into(
        raw: bytes, values: npt.NDArray[np.float32], present: npt.NDArray[np.bool_]
    ) -> bool:
        """``decode(raw)`` written into ``values`` (absent minutes 0) and ``present``,
        views of the day's length: a dense day of whole counts (the commonest) in two
        numpy calls, without the intermediate arrays. Returns whether the format says
        every value is a whole number below 65,536 (none -0.0). Raises ``CorruptDay``
        as ``decode`` (and ValueError when the views are not of the day's length)."""
        whole = DayMinutes._whole_format(raw)
        DayMinutes._decode_into(raw, values, present)
        return whole

    @staticmethod
    def decode_complete(raws: list[bytes], minutes: int) -> npt.NDArray[np.float32] | None:
        """The values of days that are each complete, ``minutes`` long and stored dense
        (whole counts: a busy user's days), one row each, in a few numpy calls for them
        all; None when any is not (``decode_into`` each then). Pure."""
        header = _HEADER.pack(_FORMAT, _ALL_PRESENT | _DENSE, minutes)
        size = _HEADER.size + 2 * minutes
        if not all(len(raw) == size and raw.startswith(header) for raw in raws):
            return None
        records = np.frombuffer(b"".join(raws), np.uint8).reshape(len(raws), size)
        planes = records[:, _HEADER.size :].reshape(len(raws), 2, minutes)
        values = planes[:, 1].astype(np.float32)
        values *= 256  # exact: below 2^16
        values += planes[:, 0]
        return values

    @staticmethod
    def _whole_format(raw: bytes) -> bool:
        """Whether ``raw`` is format 2 of whole counts (dense or not)."""
        return len(raw) >= _HEADER.size and raw[0] == _FORMAT and bool(raw[1] & (_DENSE | _WHOLE))

    @staticmethod
    def _decode_into(
        raw: bytes, values: npt.NDArray[np.float32], present: npt.NDArray[np.bool_]
    ) -> None:
        if len(raw) >= _HEADER.size:
            version, flags, minutes = _HEADER.unpack_from(raw)
            full = 2 * minutes + (0 if flags & _ALL_PRESENT else (minutes + 7) // 8)
            dense = version == _FORMAT and flags & _DENSE and len(raw) == _HEADER.size + full
            if dense and minutes == len(values) == len(present):
                start = len(raw) - 2 * minutes
                planes = np.frombuffer(raw, np.uint8, 2 * minutes, start).reshape(2, minutes)
                np.dot(_PLANE_WEIGHTS, planes, out=values)  # exact: below 2^16
                if flags & _ALL_PRESENT:
                    present[:] = True
                    return
                present[:] = _bits(raw, _HEADER.size, minutes)
                values[~present] = 0
                return
        day = DayMinutes.decode(raw)
        if len(day.values) != len(values) or len(day.present) != len(present):
            raise ValueError(f"a day of {day.minutes} minutes into {len(values)}")
        np.copyto(values, np.where(day.present, day.values, np.float32(0)))
        present[:] = day.present

    @classmethod
    def decode(cls, raw: bytes) -> DayMinutes:
        """The day ``encode`` wrote (format 2) or an earlier version did (format 1).
        Raises ``CorruptDay`` on anything else."""
        if len(raw) < _HEADER.size:
            raise CorruptDay("a stored day shorter than its header")
        version, flags, minutes = _HEADER.unpack_from(raw)
        if version not in (_FORMAT, _FORMAT_ZLIB) or not 0 < minutes <= MAX_DAY_MINUTES:
            raise CorruptDay(f"stored day format {version} of {minutes} minutes")
        body = raw[_HEADER.size :]
        if version == _FORMAT_ZLIB:
            return _decode_zlib(body, flags, minutes)
        return _decode_sparse(body, flags, minutes)


def _count_bits(body: bytes, start: int, minutes: int) -> int:
    size = (minutes + 7) // 8
    bitmap = body[start : start + size]
    if len(bitmap) != size:
        raise CorruptDay(f"stored day of {len(body)} bytes for {minutes} minutes")
    padding = 8 * size - minutes  # the last byte's low bits (numpy's bit order)
    return (int.from_bytes(bitmap, "big") >> padding).bit_count()


def whole_counts(values: npt.NDArray[np.float32]) -> npt.NDArray[np.uint16] | None:
    """The values as little-endian uint16 when each is a whole number in 0-65,535 (and
    none is -0.0); else None."""
    if values.size and values.max() >= _UINT16_END:
        return None
    whole = values.astype("<u2")  # a negative value (or a fraction) does not come back
    # the same bits back (-0.0 comes back as 0.0): half the cost of signbit and array_equal
    return whole if whole.astype(np.float32).tobytes() == values.tobytes() else None


def _planes(values: npt.NDArray[Any]) -> bytes:
    """The values' bytes plane by plane: every first byte, then every second, ..."""
    return values.view(np.uint8).reshape(-1, values.itemsize).T.tobytes()


def _from_planes(body: bytes, start: int, count: int, dtype: str) -> npt.NDArray[Any]:
    size = np.dtype(dtype).itemsize
    planes = np.frombuffer(body, np.uint8, count * size, start).reshape(size, count)
    if size == 2:  # low | high << 8: 2 µs cheaper than the transposed copy for a day
        joined: npt.NDArray[np.uint16] = planes[0].astype("<u2") | (planes[1].astype("<u2") << 8)
        return joined
    return planes.T.copy().view(dtype).reshape(count)


def _bits(body: bytes, start: int, minutes: int) -> npt.NDArray[np.bool_]:
    packed = np.frombuffer(body, np.uint8, (minutes + 7) // 8, start)
    return np.unpackbits(packed, count=minutes).astype(np.bool_)


def _present(body: bytes, flags: int, minutes: int) -> npt.NDArray[np.bool_]:
    return np.ones(minutes, np.bool_) if flags & _ALL_PRESENT else _bits(body, 0, minutes)


def _decode_sparse(body: bytes, flags: int, minutes: int) -> DayMinutes:
    bitmap = (minutes + 7) // 8
    start = 0 if flags & _ALL_PRESENT else bitmap
    if flags & _DENSE:  # the presence bitmap (unless all present), every value as uint16
        if len(body) != start + 2 * minutes:
            raise CorruptDay(f"stored day of {len(body)} bytes for {minutes} minutes")
        values = _from_planes(body, start, minutes, "<u2").astype(np.float32)
        return DayMinutes(values, _present(body, flags, minutes))
    if len(body) < start + bitmap:
        raise CorruptDay(f"stored day of {len(body)} bytes for {minutes} minutes")
    present = _present(body, flags, minutes)
    nonzero = _bits(body, start, minutes)
    count = int(np.count_nonzero(nonzero))
    dtype = "<u2" if flags & _WHOLE else "<f4"
    if len(body) != start + bitmap + count * np.dtype(dtype).itemsize:
        raise CorruptDay(f"stored day of {len(body)} bytes for {minutes} minutes")
    values = np.zeros(minutes, np.float32)
    values[nonzero] = _from_planes(body, start + bitmap, count, dtype)
    return DayMinutes(values, present)


def _decode_zlib(body: bytes, flags: int, minutes: int) -> DayMinutes:
    """Format 1: presence bitmap and float32 values, zlib'd when that was smaller."""
    if flags & _ZLIB:
        try:
            body = zlib.decompress(body)
        except zlib.error as exc:
            raise CorruptDay(f"stored day does not decompress: {exc}") from None
    bitmap = (minutes + 7) // 8
    if len(body) != bitmap + 4 * minutes:
        raise CorruptDay(f"stored day of {len(body)} bytes for {minutes} minutes")
    present = _bits(body, 0, minutes)
    values = np.frombuffer(body, "<f4", minutes, bitmap).astype(np.float32)
    return DayMinutes(values, present)
