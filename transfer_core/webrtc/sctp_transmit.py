"""A sender that looks for retransmissions only where there can be some, and reads a SACK's
gap blocks by what they change: a small adapter over aiortc's SCTP sender.

aiortc 1.16 runs `_transmit` after every SACK and every message queued, and each run
walks the whole sent queue looking for chunks marked for retransmission. The queue
holds every DATA chunk in flight: at a LAN's 1,400-byte packets and aiortc's 1 MiB
window that is about 750 chunks, walked once per SACK, so the sender's cost per packet
grows with the window (the largest single cost in a profile of a 1,400-byte-packet
transfer; docs/benchmarks.md). Chunks are marked in two places only, and both are
known: a SACK whose gap reports strike a chunk a third time (`_receive_sack_chunk`)
and the retransmission timer (`_t3_expired`). `install_lean_transmit` notes which
chunks those two events may have marked (`RetransmitMarks`: a span of TSNs, a strike's
chunk or the whole queue) and gives the association a `_transmit` that is aiortc's
own, line for line, but for one guard: the walk runs only over that span, and only
after such an event. The walk does nothing to a chunk that is not marked, and before
a marked chunk it only clears `retransmit_earliest`, which a span that starts past
the queue's front starts cleared: what is sent, and when, is unchanged.

The association also gets `sctp_sent_gaps`'s `_receive_sack_chunk`, which reads a
SACK's gap blocks by what they change; a strike that marks a chunk is what adds it to
the span.

Installed after `sctp_pmtu` (its copies read that association's packet size), only on
the pinned aiortc release; tests/unit/test_sctp_transmit.py pins the aiortc source it
copies and relies on.
"""

from __future__ import annotations

import time
import types
from collections import deque
from collections.abc import Iterable
from itertools import islice
from typing import Any, NamedTuple

from aiortc.rtcsctptransport import USERDATA_MAX_LENGTH, RTCSctpTransport

from .sctp_gaps import signed_offset
from .sctp_pmtu import path_mtu_of, supported
from .sctp_sent_gaps import GAPS, SentGaps, _receive_sack_chunk, consecutive

MARKS = "_sgraph_send_marks"
"""The association's `RetransmitMarks`, by the name the `_transmit` copy reads it."""
_MARK = "_sgraph_send_lean_transmit"


class Walk(NamedTuple):
    """The part of the sent queue a retransmission walk visits."""

    first: int
    """TSN of the span's first chunk, as marked."""
    last: int
    """TSN of the span's last chunk, as marked."""
    from_front: bool
    """The walk starts at the queue's first chunk (aiortc restarts T3 for it)."""
    chunks: Iterable[Any]


class RetransmitMarks:
    """The span of TSNs whose chunks may be marked for retransmission since the last
    walk: every marked chunk of the sent queue lies in it.

    The sent queue only loses chunks at its front and gains them at its back, and its
    TSNs are consecutive, so a TSN finds its chunk by position. Where they are not
    (no such queue was seen, but it costs one comparison to check), the walk is the
    whole queue, as aiortc's."""

    __slots__ = ("_first", "_last")

    def __init__(self) -> None:
        self._first: int | None = None
        self._last = 0

    def __bool__(self) -> bool:
        return self._first is not None

    def mark(self, first: int, last: int) -> None:
        """Chunks from TSN `first` to `last` may be marked."""
        if self._first is None:
            self._first, self._last = first, last
            return
        if signed_offset(first, self._first) < 0:
            self._first = first
        if signed_offset(last, self._last) > 0:
            self._last = last

    def mark_all(self, queue: deque[Any]) -> None:
        """Every chunk of `queue` may be marked (the timer marks them all)."""
        if queue:
            self.mark(queue[0].tsn, queue[-1].tsn)

    def take(self, queue: deque[Any]) -> Walk | None:
        """The part of `queue` to walk for what was marked, forgetting the marks (a walk
        cut short marks again what it left); None when nothing was."""
        first, last = self._first, self._last
        if first is None:
            return None
        self._first = None
        count = len(queue)
        if not count:
            return None
        if not consecutive(queue):
            return Walk(first, last, True, queue)
        front = queue[0].tsn
        start = max(signed_offset(first, front), 0)
        stop = min(signed_offset(last, front) + 1, count)
        return Walk(first, last, start == 0, islice(queue, start, max(start, stop)))


async def _transmit(self: Any) -> None:
    """aiortc 1.16's `RTCSctpTransport._transmit` with the retransmission walk guarded
    (the lines marked "guard"); `install_lean_transmit` binds it to the association's
    globals, so `USERDATA_MAX_LENGTH` is its packet size."""
    # send FORWARD TSN
    if self._forward_tsn_chunk is not None:
        await self._send_chunk(self._forward_tsn_chunk)
        self._forward_tsn_chunk = None

        # ensure T3 is running
        if not self._t3_handle:
            self._t3_start()

    # limit burst size
    if self._fast_recovery_exit is not None:
        burst_size = 2 * USERDATA_MAX_LENGTH
    else:
        burst_size = 4 * USERDATA_MAX_LENGTH
    cwnd = min(self._flight_size + burst_size, self._cwnd)

    # retransmit
    walk = self._sgraph_send_marks.take(self._sent_queue)  # guard
    if walk is not None:  # guard
        try:  # guard
            retransmit_earliest = walk.from_front  # guard: a span past the front
            for chunk in walk.chunks:  # guard: the span that holds every marked chunk
                if chunk._retransmit:
                    if self._fast_recovery_transmit:
                        self._fast_recovery_transmit = False
                    elif self._flight_size >= cwnd:
                        self._sgraph_send_marks.mark(chunk.tsn, walk.last)  # guard: some wait
                        return
                    self._flight_size_increase(chunk)

                    chunk._misses = 0
                    chunk._retransmit = False
                    chunk._sent_count += 1
                    await self._send_chunk(chunk)
                    if retransmit_earliest:
                        # restart the T3 timer as the earliest outstanding TSN
                        # is being retransmitted
                        self._t3_restart()
                retransmit_earliest = False
        except BaseException:  # guard: a walk cut short (a send failed) walks again
            self._sgraph_send_marks.mark(walk.first, walk.last)  # guard
            raise  # guard

    while self._outbound_queue and self._flight_size < cwnd:
        chunk = self._outbound_queue.popleft()
        self._sent_queue.append(chunk)
        self._flight_size_increase(chunk)

        # update counters
        chunk._sent_count += 1
        chunk._sent_time = time.time()

        await self._send_chunk(chunk)
        if not self._t3_handle:
            self._t3_start()


def install_lean_transmit(sctp: RTCSctpTransport | None) -> bool:
    """Give `sctp` the guarded `_transmit` and the SACK handler with `SentGaps`
    (idempotent). False when nothing was installed: no transport, another aiortc, or no
    path-MTU adapter on it (whose per-association globals both copies take)."""
    if sctp is None:
        return False
    if getattr(sctp, _MARK, False):
        return True
    path_mtu = path_mtu_of(sctp)
    if not supported() or path_mtu is None:
        return False
    marks = RetransmitMarks()
    marks.mark_all(sctp._sent_queue)  # none is marked yet; the first walk finds that out
    setattr(sctp, MARKS, marks)
    for copy in (_transmit, _receive_sack_chunk):  # the strikes mark, as `SentGaps` says
        lean = types.FunctionType(copy.__code__, path_mtu.globals, copy.__name__)
        setattr(sctp, copy.__name__, types.MethodType(lean, sctp))
    gaps = SentGaps(sctp, on_mark=marks.mark)
    setattr(sctp, GAPS, gaps)
    sctp._flight_size_increase = gaps.flight_size_increase  # type: ignore[method-assign]
    t3_expired = sctp._t3_expired

    def on_t3_expired() -> None:
        marks.mark_all(sctp._sent_queue)  # it marks every chunk in flight
        t3_expired()

    sctp._t3_expired = on_t3_expired  # type: ignore[method-assign]
    setattr(sctp, _MARK, True)
    return True
