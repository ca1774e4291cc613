"""The TSNs an SCTP receiver holds beyond a gap, as runs: pure, no aiortc.

After a loss, every DATA chunk that arrives before the retransmission is held beyond
the cumulative TSN, and each of those packets is acknowledged at once with a SACK
that lists the held TSNs as gap blocks (RFC 9260 §6.2, §3.3.4). aiortc 1.16 keeps them
as a set: each packet sorts and filters the whole set to move the cumulative TSN, and
each SACK walks it in Python to build the blocks. With k TSNs held, a packet costs
O(k log k) and a SACK O(k), so one loss costs a receiver O(k²) over the round trip that
recovers it, and k grows with the window (docs/benchmarks.md, "Gaps in runs").

`GapRuns` keeps the same TSNs as ascending runs `[first, last]`: a packet that extends
the newest run (the common case: the flight goes on arriving in order behind the hole)
is O(1), any other a bisection over the runs, and the blocks of a SACK cost one step
per run, not per TSN. Runs are ordered by serial number arithmetic (RFC 1982) from the
cumulative TSN, so a run that crosses 2**32 stays one run; aiortc sorts the raw
integers there and reports such a run as two blocks, the wrong way round.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable

TSN_MODULO = 2**32


def tsns_of(first: int, last: int) -> list[range]:
    """The TSNs of the run `[first, last]` as plain ranges (two where it wraps)."""
    if first <= last:
        return [range(first, last + 1)]
    return [range(first, TSN_MODULO), range(0, last + 1)]


class GapRuns:
    """TSNs received beyond the cumulative TSN, as ascending runs of consecutive TSNs.

    The caller keeps the invariants: every TSN added is new and lies after the
    cumulative TSN passed with it (within 2**31), and the cumulative TSN moves only
    by `take_front`.
    """

    __slots__ = ("_runs",)

    def __init__(self) -> None:
        self._runs: list[list[int]] = []
        """`[first, last]` of each run, ascending from the cumulative TSN."""

    def __bool__(self) -> bool:
        return bool(self._runs)

    def __len__(self) -> int:
        """The number of runs (a SACK's gap blocks)."""
        return len(self._runs)

    @classmethod
    def of(cls, tsns: Iterable[int], cumulative: int) -> GapRuns:
        """The runs of `tsns`, all after `cumulative`."""
        runs = cls()
        for tsn in sorted(tsns, key=lambda t: (t - cumulative) % TSN_MODULO):
            runs.add(tsn, cumulative)
        return runs

    def add(self, tsn: int, cumulative: int) -> None:
        """Hold `tsn`, a new TSN beyond `cumulative + 1`."""
        runs = self._runs
        if not runs:
            runs.append([tsn, tsn])
            return
        newest = runs[-1]
        if tsn == (newest[1] + 1) % TSN_MODULO:  # the flight behind the hole
            newest[1] = tsn
            return
        offset = (tsn - cumulative) % TSN_MODULO
        if offset > (newest[1] - cumulative) % TSN_MODULO:
            runs.append([tsn, tsn])
            return
        # a retransmission, or reordering: the first run that ends after it
        i = bisect_left(runs, offset, key=lambda run: (run[1] - cumulative) % TSN_MODULO)
        extends_before = i > 0 and (runs[i - 1][1] + 1) % TSN_MODULO == tsn
        extends_after = (runs[i][0] - 1) % TSN_MODULO == tsn
        if extends_before and extends_after:
            runs[i - 1][1] = runs[i][1]
            del runs[i]
        elif extends_before:
            runs[i - 1][1] = tsn
        elif extends_after:
            runs[i][0] = tsn
        else:
            runs.insert(i, [tsn, tsn])

    def take_front(self, first: int) -> tuple[int, int] | None:
        """Remove and return the oldest run if it starts at `first` (the TSN after the
        new cumulative TSN); None otherwise."""
        runs = self._runs
        if runs and runs[0][0] == first:
            start, end = runs.pop(0)
            return start, end
        return None

    def blocks(self, cumulative: int) -> list[tuple[int, int]]:
        """Gap ack blocks: each run's first and last TSN as offsets from `cumulative`."""
        return [((first - cumulative) % TSN_MODULO, (last - cumulative) % TSN_MODULO)
                for first, last in self._runs]


class IndexRuns:
    """A set of non-negative integers (positions in a queue) as ascending runs
    `[first, last]`: what a sender holds acknowledged beyond its cumulative TSN, by
    position in its sent queue."""

    __slots__ = ("_runs",)

    def __init__(self) -> None:
        self._runs: list[list[int]] = []

    def __bool__(self) -> bool:
        return bool(self._runs)

    def spans(self) -> list[tuple[int, int]]:
        """The runs, ascending."""
        return [(first, last) for first, last in self._runs]

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
