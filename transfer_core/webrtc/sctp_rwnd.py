"""A receive window that does not cap a long path: what our SCTP receiver advertises.

aiortc advertises a fixed 1 MiB (`RTCSctpTransport._advertised_rwnd`) in its INIT and
INIT ACK. A sender that respects the window (Chromium's) can then have at most 1 MiB
in flight, and aiortc's own sender starts with `ssthresh` at the peer's window, so its
slow start ends at 1 MiB and congestion avoidance grows a packet per round trip past
it. Either way a transfer tops out near 1 MiB / RTT: 7 MB/s at 150 ms, whatever the
link (docs/networking.md §6).

The window bounds what SCTP holds for reassembly, and aiortc hands every message up as
soon as it is whole, so what sits in a receiver's memory is bounded by the protocol's
own flow-control window (`transport/window.py`, at most `FLOW_WINDOW_MAX_BYTES`), not
by this number. Advertising that same ceiling lets a sender's window, SCTP's and ours,
grow to what the path needs. Chromium advertises 5 MiB, Firefox 16 MiB.

Installed before DTLS starts (the INIT is sent once the association starts); like the
other adapters, only on the pinned aiortc release.
"""

from __future__ import annotations

from aiortc.rtcsctptransport import RTCSctpTransport

from ..transport.window import FLOW_WINDOW_MAX_BYTES
from .sctp_ack import supported

__all__ = ["RECEIVE_WINDOW_BYTES", "install_receive_window"]

RECEIVE_WINDOW_BYTES = FLOW_WINDOW_MAX_BYTES
"""What our receiver advertises: the most a sender of ours keeps in flight."""

AIORTC_RECEIVE_WINDOW = 1024 * 1024
"""What aiortc 1.16 advertises on its own (checked by the tests)."""


def install_receive_window(sctp: RTCSctpTransport | None,
                           size: int = RECEIVE_WINDOW_BYTES) -> bool:
    """Advertise `size` bytes instead of aiortc's 1 MiB. False when nothing was changed:
    no transport, another aiortc, or an association already past its INIT (aiortc
    counts the window down and up from its start, so it is set only while untouched)."""
    if sctp is None or not supported():
        return False
    if sctp._association_state != RTCSctpTransport.State.CLOSED:
        return False
    if sctp._advertised_rwnd != AIORTC_RECEIVE_WINDOW:
        return sctp._advertised_rwnd == size
    sctp._advertised_rwnd = size
    return True
