"""A SACK's gap blocks read by what they change: a small adapter over aiortc's SCTP sender.

After a loss the receiver sends a SACK with gap blocks for every packet until the
retransmission lands, and aiortc 1.16's `_receive_sack_chunk` reads each by building a
set of every TSN the blocks list and walking the sent queue twice, once to acknowledge
what they list and once to strike what they skip: O(k) per SACK in the k chunks
outstanding, so one loss costs the sender O(k²) over the round trip that recovers it.
`_receive_sack_chunk` here is aiortc's, line for line, but for its gap blocks, which
`SentGaps` reads with the same effect on every chunk, the flight size and the
congestion window (docs/benchmarks.md, "Held TSNs as runs").

`sctp_transmit.install_lean_transmit` installs both, over the path-MTU adapter (the
copy reads that association's packet size), only on the pinned aiortc release;
tests/unit/test_sctp_transmit.py checks the copy against aiortc's text and replays
random losses, SACKs, blocks out of order and timer expiries into a plain and an
adapted association, comparing them after every step.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from aiortc.rtcsctptransport import USERDATA_MAX_LENGTH
from aiortc.utils import uint32_gt, uint32_gte

from .sctp_gaps import TSN_MODULO, IndexRuns, signed_offset

GAPS = "_sgraph_send_gaps"
"""The association's `SentGaps`, by the name the handler's copy reads it."""


async def _receive_sack_chunk(self: Any, chunk: Any) -> None:
    """aiortc 1.16's `RTCSctpTransport._receive_sack_chunk` with its gap blocks handled
    by `SentGaps` (the lines marked "gaps"); `install_lean_transmit` binds it to the
    association's globals, so `USERDATA_MAX_LENGTH` is its packet size."""
    if uint32_gt(self._last_sacked_tsn, chunk.cumulative_tsn):
        return

    received_time = time.time()
    self._last_sacked_tsn = chunk.cumulative_tsn
    cwnd_fully_utilized = self._flight_size >= self._cwnd
    done = 0
    done_bytes = 0

    # handle acknowledged data
    while self._sent_queue and uint32_gte(
        self._last_sacked_tsn, self._sent_queue[0].tsn
    ):
        schunk = self._sent_queue.popleft()
        done += 1
        if not schunk._acked:
            done_bytes += schunk._book_size
        self._flight_size_decrease(schunk)

        # update RTO estimate
        if done == 1 and schunk._sent_count == 1:
            self._update_rto(received_time - schunk._sent_time)

    # handle gap blocks
    loss = False
    if chunk.gaps:
        done_bytes, loss = self._sgraph_send_gaps.receive(chunk, done_bytes)  # gaps

    # adjust congestion window
    if self._fast_recovery_exit is None:
        if done and cwnd_fully_utilized:
            if self._cwnd <= self._ssthresh:
                # slow start
                self._cwnd += min(done_bytes, USERDATA_MAX_LENGTH)
            else:
                # congestion avoidance
                self._partial_bytes_acked += done_bytes
                if self._partial_bytes_acked >= self._cwnd:
                    self._partial_bytes_acked -= self._cwnd
                    self._cwnd += USERDATA_MAX_LENGTH
        if loss:
            self._ssthresh = max(self._cwnd // 2, 4 * USERDATA_MAX_LENGTH)
            self._cwnd = self._ssthresh
            self._partial_bytes_acked = 0
            self._fast_recovery_exit = self._sent_queue[-1].tsn
            self._fast_recovery_transmit = True
    elif uint32_gte(chunk.cumulative_tsn, self._fast_recovery_exit):
        self._fast_recovery_exit = None

    if not self._sent_queue:
        # there is no outstanding data, stop T3
        self._t3_cancel()
    elif done:
        # the earliest outstanding chunk was acknowledged, restart T3
        self._t3_restart()

    self._update_advanced_peer_ack_point()
    await self._data_channel_flush()
    await self._transmit()


def consecutive(queue: Any) -> bool:
    """The sent queue's TSNs run one by one from its front (aiortc assigns them in order
    and takes chunks off the front only): what finding a chunk by position needs."""
    return bool(queue) and queue[-1].tsn == (queue[0].tsn + len(queue) - 1) % TSN_MODULO


class SentGaps:
    """What a SACK's gap blocks do to one association's sent queue, in time by what they
    change: aiortc's walks, without walking what nothing changed.

    aiortc gathers every TSN of the blocks into a set and walks the sent queue twice,
    once to acknowledge what the blocks list and once to strike what they skip, up to
    the newest chunk they newly acknowledged: O(k) in the chunks outstanding for every
    SACK, and a receiver recovering from a loss sends one per packet. Here a chunk is
    found by its position (the queue's TSNs are consecutive from its front), the chunks
    acknowledged by earlier blocks are kept as runs of positions (only this walk sets a
    chunk's `_acked`, and only a strike clears it), and only the positions the blocks
    add to them are visited, with the holes between blocks for the strikes. A chunk
    acknowledged earlier that went back in flight (the retransmission timer marks every
    chunk, acknowledged or not) is noted when it does (`flight_size_increase`), and
    taken out of the flight size when a block lists it, as aiortc's walk does. Blocks
    out of order or a queue whose TSNs are not consecutive take aiortc's own walks.
    """

    def __init__(self, sctp: Any, on_mark: Callable[[int, int], None]) -> None:
        self._sctp = sctp
        self._on_mark = on_mark
        """Called with the first and last TSN of the chunks a strike may have marked
        for retransmission."""
        self._increase = sctp._flight_size_increase
        self._acked = IndexRuns()
        self._front: int | None = None
        """The TSN at position 0 when the runs were last kept; None: read them anew."""
        self._reflown: list[Any] = []
        """Acknowledged chunks put back in flight since (to take out when listed)."""

    def flight_size_increase(self, chunk: Any) -> None:
        """aiortc's `_flight_size_increase`, noting an acknowledged chunk that goes back
        in flight."""
        if chunk._acked and not chunk._in_flight:
            self._reflown.append(chunk)
        self._increase(chunk)

    def receive(self, sack: Any, done_bytes: int) -> tuple[int, bool]:
        """The gap blocks of `sack`, as aiortc's `_receive_sack_chunk` handles them:
        the bytes newly acknowledged added to `done_bytes`, and whether a chunk was
        struck a third time (a loss)."""
        sctp = self._sctp
        queue = sctp._sent_queue
        if not queue:
            return done_bytes, False
        front, count = queue[0].tsn, len(queue)
        spans = self._spans(sack, front, count)
        if spans is None or not consecutive(queue):
            self._front = None
            return self._aiortc_gaps(sack, done_bytes)
        if self._front is None:
            self._acked = IndexRuns.of(i for i, c in enumerate(queue) if c._acked)
        else:
            self._acked.shift((front - self._front) % TSN_MODULO)
        self._front = front

        newest = -1
        for first, last in spans:
            for a, b in self._acked.missing(first, last):
                for i in range(a, b + 1):
                    schunk = queue[i]
                    if not schunk._acked:
                        done_bytes += schunk._book_size
                        schunk._acked = True
                        newest = i
                    sctp._flight_size_decrease(schunk)
                self._acked.add(a, b)
        if self._reflown:
            self._land(spans, front, count)
        if newest < 0:  # nothing newly acknowledged: nothing is struck
            return done_bytes, False

        loss = False
        start = 0
        for first, last in spans:  # the holes up to the span that holds the newest
            for i in range(start, first):
                loss = self._strike(queue[i], i) or loss
            if last >= newest:
                break
            start = last + 1
        return done_bytes, loss

    def _spans(self, sack: Any, front: int, count: int) -> list[tuple[int, int]] | None:
        """The blocks of `sack` as positions in the queue, clipped to it; None when they
        are not ascending and apart (aiortc's walks then)."""
        spans = []
        end = 0
        for start, stop in sack.gaps:
            if start <= end or stop < start:
                return None
            end = stop
            first = max(signed_offset(sack.cumulative_tsn + start, front), 0)
            last = min(signed_offset(sack.cumulative_tsn + stop, front), count - 1)
            if first <= last:
                spans.append((first, last))
        return spans

    def _land(self, spans: list[tuple[int, int]], front: int, count: int) -> None:
        """Take the re-flown chunks the blocks list out of the flight size."""
        sctp, queue = self._sctp, self._sctp._sent_queue
        waiting = []
        for schunk in self._reflown:
            i = (schunk.tsn - front) % TSN_MODULO
            if i >= count or queue[i] is not schunk or not schunk._acked:
                continue  # acknowledged cumulatively, or struck since: not ours to land
            if not schunk._in_flight:
                continue
            if any(first <= i <= last for first, last in spans):
                sctp._flight_size_decrease(schunk)
            else:
                waiting.append(schunk)
        self._reflown = waiting

    def _strike(self, schunk: Any, position: int) -> bool:
        sctp = self._sctp
        schunk._misses += 1
        if schunk._misses != 3:
            return False
        schunk._misses = 0
        if not sctp._maybe_abandon(schunk):
            schunk._retransmit = True
            self._on_mark(schunk.tsn, schunk.tsn)
        schunk._acked = False
        self._acked.discard(position)
        sctp._flight_size_decrease(schunk)
        return True

    def _aiortc_gaps(self, sack: Any, done_bytes: int) -> tuple[int, bool]:
        """aiortc 1.16's own walks over the gap blocks, as they are."""
        sctp = self._sctp
        queue = sctp._sent_queue
        self._on_mark(queue[0].tsn, queue[-1].tsn)  # any of them may be struck
        loss = False
        seen = set()
        for gap in sack.gaps:
            for pos in range(gap[0], gap[1] + 1):
                highest_seen_tsn = (sack.cumulative_tsn + pos) % TSN_MODULO
                seen.add(highest_seen_tsn)

        # determined Highest TSN Newly Acked (HTNA)
        highest_newly_acked = sack.cumulative_tsn
        for schunk in sctp._sent_queue:
            if uint32_gt(schunk.tsn, highest_seen_tsn):
                break
            if schunk.tsn in seen:
                if not schunk._acked:
                    done_bytes += schunk._book_size
                    schunk._acked = True
                    highest_newly_acked = schunk.tsn
                sctp._flight_size_decrease(schunk)

        # strike missing chunks prior to HTNA
        for schunk in sctp._sent_queue:
            if uint32_gt(schunk.tsn, highest_newly_acked):
                break
            if schunk.tsn not in seen:
                schunk._misses += 1
                if schunk._misses == 3:
                    schunk._misses = 0
                    if not sctp._maybe_abandon(schunk):
                        schunk._retransmit = True

                    schunk._acked = False
                    sctp._flight_size_decrease(schunk)

                    loss = True
        return done_bytes, loss
