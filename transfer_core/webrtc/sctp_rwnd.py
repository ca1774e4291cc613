"""A receive window that does not cap a long path: what our SCTP receiver advertises.

aiortc advertises a fixed 1 MiB (`RTCSctpTransport._advertised_rwnd`) in its INIT and
INIT ACK. A sender that respects the window (Chromium's) can then have at most 1 MiB
in flight, and aiortc's own sender starts with `ssthresh` at the peer's window, so its
slow start ends at 1 MiB and congestion avoidance grows a packet per round trip past
it. Either way a transfer tops out near 1 MiB / RTT: 7 MB/s at 150 ms, whatever the
link (docs/networking.md §6).

aiortc hands every message up as soon as it is whole, so what sits in a receiver's
process is bounded by the protocol's own flow-control window (`transport/window.py`,
at most `FLOW_WINDOW_MAX_BYTES`). What can overflow is the kernel's receive buffer of
the UDP socket, while the receiving process is busy and a sender's whole window is on
its way: a datagram dropped there is a loss like any other, and a window's worth of
them costs a retransmission timeout. So the window advertised is what that socket
holds (`receive_window_for`: a quarter of what Linux reports granting, which is twice
the bytes it counts, each datagram counted with its overhead), at least aiortc's 1 MiB
and at most the flow-control window's ceiling: 8 MiB where the socket got its 16 MiB
(`udp_buffers.py`; root, or `net.core.rmem_max` raised), 1 MiB, as before, under a
stock kernel's 208 KiB cap. Chromium advertises 5 MiB, Firefox 16 MiB.

Installed when the local description is set (`channel._Setup.set_local`): every ICE
socket exists then and its buffer is known, and DTLS, after which the association
sends its INIT, has not started. Like the other adapters, only on the pinned aiortc
release.
"""

from __future__ import annotations

from aiortc.rtcsctptransport import RTCSctpTransport

from ..transport.window import FLOW_WINDOW_MAX_BYTES
from .sctp_ack import supported

__all__ = ["RECEIVE_WINDOW_BYTES", "install_receive_window", "receive_window_for"]

RECEIVE_WINDOW_BYTES = FLOW_WINDOW_MAX_BYTES
"""The most our receiver advertises: the most a sender of ours keeps in flight."""

AIORTC_RECEIVE_WINDOW = 1024 * 1024
"""What aiortc 1.16 advertises on its own (checked by the tests), and our least."""


def receive_window_for(granted: list[int]) -> int:
    """The window to advertise for ICE sockets granted `granted` bytes of receive buffer
    (as `getsockopt(SO_RCVBUF)` reports them; `udp_buffers.enlarge_receive_buffers`):
    a quarter of the smallest, within aiortc's 1 MiB and `RECEIVE_WINDOW_BYTES`."""
    held = min(granted) // 4 if granted else 0
    return max(AIORTC_RECEIVE_WINDOW, min(RECEIVE_WINDOW_BYTES, held))


def install_receive_window(sctp: RTCSctpTransport | None,
                           size: int = RECEIVE_WINDOW_BYTES) -> bool:
    """Advertise `size` bytes instead of aiortc's 1 MiB. False when nothing was changed:
    no transport, another aiortc, or an association past its INIT (aiortc counts the
    window down and up from what it advertised)."""
    if sctp is None or not supported():
        return False
    if sctp._association_state != RTCSctpTransport.State.CLOSED:
        return False
    sctp._advertised_rwnd = size
    return True
