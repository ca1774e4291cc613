"""Larger UDP receive buffers for the ICE sockets aioice opens.

aioice leaves its UDP sockets at the kernel's default receive buffer
(`net.core.rmem_default`, 208 KiB on Linux: about 150 of SCTP's 1,200-byte packets
once the kernel's per-packet overhead is counted). A Python receiver that stops
reading for a moment (a disk write, a verification, a busy machine) while a window's
worth of packets arrives in a burst loses the rest at its own socket: the network
lab at RTT 80 ms with no configured loss saw 162 such drops in an 8 MiB transfer
(`RcvbufErrors`), and aiortc's sender answered them with 1,061 retransmissions and
halved its congestion window (docs/networking.md §6). Each SCTP packet lost this way
costs as much as one lost on the path.

`enlarge_receive_buffers` asks for `RECEIVE_BUFFER_BYTES` on every UDP socket of the
peer connection's ICE agent: host sockets and, for TURN over UDP, the socket to the
TURN server. Linux caps the request at `net.core.rmem_max` (208 KiB unless raised;
`sysctl -w net.core.rmem_max=16777216` lets it take full effect), so it never fails,
at worst it changes nothing; a process that may pass the cap (root, CAP_NET_ADMIN)
gets the whole size (`SO_RCVBUFFORCE`). Large SCTP packets (sctp_pmtu.py: 16,000
bytes on loopback) make this matter more: 208 KiB holds about ten of them. It reads
aioice's private attributes and does nothing when they are not there.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Iterator
from typing import Any

from ..transport.window import FLOW_WINDOW_MAX_BYTES

logger = logging.getLogger(__name__)

_SO_RCVBUFFORCE = getattr(socket, "SO_RCVBUFFORCE", 33)  # Linux's value
RECEIVE_BUFFER_BYTES = 2 * FLOW_WINDOW_MAX_BYTES
"""16 MiB: enough for the largest SCTP receive window we advertise (sctp_rwnd: 8 MiB,
the flow-control window's ceiling) with the kernel's per-datagram overhead counted, so
that a sender never has more in flight than the socket holds while the receiver is busy.
Where Linux caps it lower (rmem_max), the window advertised is smaller to match
(`sctp_rwnd.receive_window_for`)."""


def ice_udp_sockets(pc: Any) -> Iterator[socket.socket]:
    """The UDP sockets of `pc`'s ICE agent."""
    try:
        ice = pc.sctp.transport.transport
    except AttributeError:
        return iter(())
    return udp_sockets_of_ice(ice)


def udp_sockets_of_ice(ice: Any) -> Iterator[socket.socket]:
    """The UDP sockets of an `RTCIceTransport`'s agent (aioice `Connection._protocols`)."""
    try:
        protocols = list(ice._connection._protocols)
    except AttributeError:
        return
    for protocol in protocols:
        transport = getattr(protocol, "transport", None)
        # a TURN candidate's transport wraps the client protocol that talks to the server
        inner = getattr(transport, "_TurnTransport__inner_protocol", None)
        if inner is not None:
            transport = getattr(inner, "transport", None)
        sock = transport.get_extra_info("socket") if transport is not None else None
        if sock is not None and sock.type == socket.SOCK_DGRAM:
            yield sock


def enlarge_receive_buffers(pc: Any, size: int = RECEIVE_BUFFER_BYTES) -> list[int]:
    """Ask for `size` bytes of receive buffer on each ICE UDP socket of `pc` (after
    gathering); the sizes the kernel granted (Linux reports twice the usable size)."""
    granted = []
    for sock in ice_udp_sockets(pc):
        try:
            if sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF) < size:
                try:  # past rmem_max where the process may (CAP_NET_ADMIN)
                    sock.setsockopt(socket.SOL_SOCKET, _SO_RCVBUFFORCE, size)
                except PermissionError:
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, size)
            granted.append(sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF))
        except OSError as exc:  # a closed socket: nothing to enlarge
            logger.debug("could not enlarge a UDP receive buffer: %s", exc)
    if granted:
        logger.debug("ICE UDP receive buffers: %s bytes", granted)
    return granted
