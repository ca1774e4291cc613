"""Sets of chunk indices as sorted half-open ranges, and their compact wire encoding.

Encoding (docs/protocol.md, "Range encoding"): one format byte, then
- 0x01 ranges: varint universe, varint range count, then per range varint gap
  (from the previous range's end) and varint length;
- 0x02 bitmap: varint universe, then ceil(universe/8) bytes, bit i = index i (LSB first).
The encoder picks the shorter, so a million-chunk set never exceeds 125,004 bytes
and a contiguous prefix takes a handful.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Iterator

FORMAT_RANGES = 0x01
FORMAT_BITMAP = 0x02

__all__ = ["RangeSet", "RangeEncodingError"]


class RangeEncodingError(ValueError):
    """The bytes are not a valid range encoding."""


def _put_varint(out: bytearray, value: int) -> None:
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return


def _get_varint(data: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if pos >= len(data):
            raise RangeEncodingError("truncated varint")
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7
        if shift > 63:
            raise RangeEncodingError("varint too long")


class RangeSet:
    """Indices in `[0, universe)`, kept as sorted disjoint `(start, end)` ranges."""

    def __init__(self, universe: int, ranges: Iterable[tuple[int, int]] = ()) -> None:
        self.universe = universe
        self._starts: list[int] = []
        self._ends: list[int] = []
        for start, end in ranges:
            self.add_range(start, end)

    # --- queries -------------------------------------------------------------

    def __contains__(self, index: int) -> bool:
        i = bisect.bisect_right(self._starts, index) - 1
        return i >= 0 and index < self._ends[i]

    def __len__(self) -> int:
        return sum(e - s for s, e in zip(self._starts, self._ends, strict=True))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, RangeSet) and self.universe == other.universe and (
            self.ranges() == other.ranges()
        )

    def __repr__(self) -> str:
        return f"RangeSet({self.universe}, {self.ranges()!r})"

    def ranges(self) -> list[tuple[int, int]]:
        return list(zip(self._starts, self._ends, strict=True))

    def __iter__(self) -> Iterator[int]:
        for start, end in zip(self._starts, self._ends, strict=True):
            yield from range(start, end)

    @property
    def complete(self) -> bool:
        return self.universe == 0 or (self._starts == [0] and self._ends == [self.universe])

    def complement(self) -> RangeSet:
        """The indices of the universe not in this set (what is still missing)."""
        out = RangeSet(self.universe)
        cursor = 0
        for start, end in zip(self._starts, self._ends, strict=True):
            if start > cursor:
                out._starts.append(cursor)
                out._ends.append(start)
            cursor = end
        if cursor < self.universe:
            out._starts.append(cursor)
            out._ends.append(self.universe)
        return out

    def copy(self) -> RangeSet:
        out = RangeSet(self.universe)
        out._starts, out._ends = self._starts.copy(), self._ends.copy()
        return out

    def union(self, other: RangeSet) -> RangeSet:
        out = RangeSet(max(self.universe, other.universe), self.ranges())
        for start, end in other.ranges():
            out.add_range(start, end)
        return out

    # --- updates -------------------------------------------------------------

    def add(self, index: int) -> None:
        """Add one index; O(1) for the common case of appending to the last range."""
        if self._ends and self._ends[-1] == index:
            self._ends[-1] += 1
            return
        self.add_range(index, index + 1)

    def add_range(self, start: int, end: int) -> None:
        if not 0 <= start <= end <= self.universe:
            raise ValueError(f"range [{start}, {end}) outside [0, {self.universe})")
        if start == end:
            return
        lo = bisect.bisect_left(self._ends, start)  # first range that could touch
        hi = bisect.bisect_right(self._starts, end)  # past the last range that could touch
        if lo < hi:
            start = min(start, self._starts[lo])
            end = max(end, self._ends[hi - 1])
        self._starts[lo:hi] = [start]
        self._ends[lo:hi] = [end]

    # --- wire form -----------------------------------------------------------

    def encode(self) -> bytes:
        """The shorter of the range and bitmap encodings (ranges on a tie)."""
        ranges = self.encode_ranges()
        if len(ranges) <= 1 + len(_varint_bytes(self.universe)) + (self.universe + 7) // 8:
            return ranges
        return self.encode_bitmap()

    def encode_ranges(self) -> bytes:
        """Format 0x01: universe, range count, then (gap, length) per range."""
        ranges = bytearray([FORMAT_RANGES])
        _put_varint(ranges, self.universe)
        _put_varint(ranges, len(self._starts))
        cursor = 0
        for start, end in zip(self._starts, self._ends, strict=True):
            _put_varint(ranges, start - cursor)
            _put_varint(ranges, end - start)
            cursor = end
        return bytes(ranges)

    def encode_bitmap(self) -> bytes:
        """Format 0x02: universe, then one bit per index, least significant bit first."""
        bits = bytearray((self.universe + 7) // 8)
        for index in self:
            bits[index >> 3] |= 1 << (index & 7)
        return bytes([FORMAT_BITMAP]) + _varint_bytes(self.universe) + bytes(bits)

    @classmethod
    def decode(cls, data: bytes) -> RangeSet:
        if not data:
            raise RangeEncodingError("empty range encoding")
        universe, pos = _get_varint(data, 1)
        out = cls(universe)
        if data[0] == FORMAT_RANGES:
            n, pos = _get_varint(data, pos)
            cursor = 0
            for _ in range(n):
                gap, pos = _get_varint(data, pos)
                length, pos = _get_varint(data, pos)
                start, end = cursor + gap, cursor + gap + length
                if length == 0 or (gap == 0 and cursor > 0) or end > universe:
                    raise RangeEncodingError("ranges overlap, touch or leave the universe")
                out._starts.append(start)
                out._ends.append(end)
                cursor = end
        elif data[0] == FORMAT_BITMAP:
            bits = data[pos:]
            if len(bits) != (universe + 7) // 8:
                raise RangeEncodingError("bitmap length does not match its universe")
            for byte_index, byte in enumerate(bits):
                if not byte:
                    continue
                for bit in range(8):
                    if byte >> bit & 1:
                        index = byte_index * 8 + bit
                        if index >= universe:
                            raise RangeEncodingError("bitmap sets bits past its universe")
                        out.add(index)
            pos = len(data)
        else:
            raise RangeEncodingError(f"unknown range format {data[0]:#x}")
        if pos != len(data):
            raise RangeEncodingError("trailing bytes after the ranges")
        return out


def _varint_bytes(value: int) -> bytes:
    out = bytearray()
    _put_varint(out, value)
    return bytes(out)
