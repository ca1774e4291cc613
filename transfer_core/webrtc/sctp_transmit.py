"""A sender that looks for retransmissions only when there can be some, and reads a SACK's
gap blocks by what they change: a small adapter over aiortc's SCTP sender.

aiortc 1.16 runs `_transmit` after every SACK and every message queued, and each run
walks the whole sent queue looking for chunks marked for retransmission. The queue
holds every DATA chunk in flight: at a LAN's 1,400-byte packets and aiortc's 1 MiB
window that is about 750 chunks, walked once per SACK, so the sender's cost per packet
grows with the window (the largest single cost in a profile of a 1,400-byte-packet
transfer; docs/benchmarks.md). Chunks are marked in two places only, and both are
known: a SACK whose gap reports strike a chunk a third time (`_receive_sack_chunk`)
and the retransmission timer (`_t3_expired`). `install_lean_transmit` notes those two
events on the association and gives it a `_transmit` that is aiortc's own, line for
line, but for one guard: the walk runs only after such an event, and until a walk has
seen every marked chunk sent. What is sent, and when, is unchanged.

The association also gets `sctp_sent_gaps`'s `_receive_sack_chunk`, which reads a
SACK's gap blocks by what they change; a strike that marks a chunk is what lets the
next `_transmit` walk.

Installed after `sctp_pmtu` (its copies read that association's packet size), only on
the pinned aiortc release; tests/unit/test_sctp_transmit.py pins the aiortc source it
copies and relies on.
"""

from __future__ import annotations

import time
import types
from typing import Any

from aiortc.rtcsctptransport import USERDATA_MAX_LENGTH, RTCSctpTransport

from .sctp_pmtu import path_mtu_of, supported
from .sctp_sent_gaps import GAPS, SentGaps, _receive_sack_chunk

_MARKED = "_sgraph_send_retransmit_marked"
"""True while a chunk of the sent queue may be marked for retransmission."""
_MARK = "_sgraph_send_lean_transmit"


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
    if self._sgraph_send_retransmit_marked:  # guard
        # cleared before the walk: a chunk marked while it awaits a send marks again
        self._sgraph_send_retransmit_marked = False  # guard
        try:  # guard
            retransmit_earliest = True
            for chunk in self._sent_queue:
                if chunk._retransmit:
                    if self._fast_recovery_transmit:
                        self._fast_recovery_transmit = False
                    elif self._flight_size >= cwnd:
                        self._sgraph_send_retransmit_marked = True  # guard: some wait
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
            self._sgraph_send_retransmit_marked = True  # guard
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
    setattr(sctp, _MARKED, True)  # nothing is marked yet; the first walk finds that out
    for copy in (_transmit, _receive_sack_chunk):  # the strikes mark, as `SentGaps` says
        lean = types.FunctionType(copy.__code__, path_mtu.globals, copy.__name__)
        setattr(sctp, copy.__name__, types.MethodType(lean, sctp))
    gaps = SentGaps(sctp, on_mark=lambda: setattr(sctp, _MARKED, True))
    setattr(sctp, GAPS, gaps)
    sctp._flight_size_increase = gaps.flight_size_increase  # type: ignore[method-assign]
    t3_expired = sctp._t3_expired

    def on_t3_expired() -> None:
        setattr(sctp, _MARKED, True)  # it marks every chunk in flight
        t3_expired()

    sctp._t3_expired = on_t3_expired  # type: ignore[method-assign]
    setattr(sctp, _MARK, True)
    return True
