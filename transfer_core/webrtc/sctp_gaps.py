"""Runs of consecutive integers, for the SCTP adapters that read and write gap blocks: pure.

After a loss, every DATA chunk that arrives before the retransmission is held beyond
the cumulative TSN, and each of those packets is acknowledged at once with a SACK that
lists the held TSNs as gap blocks (RFC 9260 §6.2, §3.3.4). aiortc 1.16 keeps what the
receiver holds as a set it sorts and filters per packet and walks per SACK, and what
the sender has acknowledged as flags it walks the whole sent queue for per SACK: with
k held or outstanding, one loss costs O(k²) over the round trip that recovers it
(docs/benchmarks.md, "Held TSNs as runs").

`IndexRuns` keeps such a set as ascending runs `[first, last]`: the receiver's held
TSNs as offsets from its cumulative TSN (`sctp_receive`; serial number arithmetic,
RFC 1982, so a run that crosses 2**32 stays one run, where aiortc's sort of the raw
integers breaks it), the sender's acknowledged chunks as positions in its sent queue
(`sctp_sent_gaps`). Extending the newest run is O(1), anything else a bisection over
the runs, and a SACK's blocks cost one step per run, not per TSN.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable

TSN_MODULO = 2**32


def signed_offset(tsn: int, base: int) -> int:
    """`tsn - base` in serial number arithmetic (RFC 1982): negative when `tsn` is
    before `base`, within 2**31 either way."""
    offset = (tsn - base) % TSN_MODULO
    return offset - TSN_MODULO if offset >= 1 << 31 else offset


def tsns_of(first: int, last: int) -> list[range]:
    """The TSNs of the run `[first, last]` as plain ranges (two where it wraps)."""
    if first <= last:
        return [range(first, last + 1)]
    return [range(first, TSN_MODULO), range(0, last + 1)]


class IndexRuns:
    """A set of non-negative integers as ascending runs `[first, last]`."""

    __slots__ = ("_runs",)

    def __init__(self) -> None:
        self._runs: list[list[int]] = []

    def __bool__(self) -> bool:
        return bool(self._runs)

    def spans(self) -> list[tuple[int, int]]:
        """The runs, ascending."""
        return [(first, last) for first, last in self._runs]

    def first(self) -> tuple[int, int] | None:
        """The lowest run, if any."""
        return (self._runs[0][0], self._runs[0][1]) if self._runs else None

    @classmethod
    def of(cls, positions: Iterable[int]) -> IndexRuns:
        """The runs of `positions`, given ascending."""
        runs = cls()
        for i in positions:
            runs.add(i, i)
        return runs

    def missing(self, first: int, last: int) -> list[tuple[int, int]]:
        """The parts of `[first, last]` not in the set, ascending."""
        parts = []
        start = first
        for run_first, run_last in self._runs:
            if run_last < start:
                continue
            if run_first > last:
                break
            if run_first > start:
                parts.append((start, run_first - 1))
            start = run_last + 1
            if start > last:
                return parts
        parts.append((start, last))
        return parts

    def add(self, first: int, last: int) -> None:
        """Put `[first, last]` in the set."""
        runs = self._runs
        if not runs or first > runs[-1][1] + 1:  # past the newest run
            runs.append([first, last])
            return
        if first >= runs[-1][0]:  # the newest run, extended (the flight behind a hole)
            runs[-1][1] = max(runs[-1][1], last)
            return
        i = bisect_left(runs, first, key=lambda run: run[1] + 1)  # first run that touches
        j = i
        while j < len(runs) and runs[j][0] <= last + 1:
            first, last = min(first, runs[j][0]), max(last, runs[j][1])
            j += 1
        runs[i:j] = [[first, last]]

    def discard(self, position: int) -> None:
        """Take `position` out of the set, if it is there."""
        runs = self._runs
        i = bisect_left(runs, position, key=lambda run: run[1])
        if i == len(runs) or runs[i][0] > position:
            return
        first, last = runs[i]
        runs[i:i + 1] = [r for r in ([first, position - 1], [position + 1, last]) if r[0] <= r[1]]

    def shift(self, count: int) -> None:
        """The queue lost its first `count` positions: every position moves down by it,
        and those below 0 go."""
        if not count:
            return
        runs = []
        for first, last in self._runs:
            if last >= count:
                runs.append([max(first - count, 0), last - count])
        self._runs = runs
