"""ICE UDP receive buffers (`transfer_core.webrtc.udp_buffers`): after gathering, every
UDP socket of a real aiortc peer connection, the host socket and the socket to a real
coturn (TURN over UDP), has the larger receive buffer, up to the kernel's cap."""

from __future__ import annotations

import asyncio
import os
import socket
from pathlib import Path

import pytest
from aiortc import RTCPeerConnection

from devstack.turn import Coturn
from tests.integration.test_turnserver_conf import rest_credentials
from transfer_core.webrtc.ice import IceSettings, loopback_gathering
from transfer_core.webrtc.udp_buffers import (
    RECEIVE_BUFFER_BYTES,
    enlarge_receive_buffers,
    ice_udp_sockets,
)

pytestmark = pytest.mark.timeout(120)


def expected_buffer() -> int:
    """What Linux grants for RECEIVE_BUFFER_BYTES: capped at rmem_max unless the process
    may pass it (root: SO_RCVBUFFORCE), reported doubled."""
    cap = int(Path("/proc/sys/net/core/rmem_max").read_text())
    return 2 * (RECEIVE_BUFFER_BYTES if os.geteuid() == 0 else min(RECEIVE_BUFFER_BYTES, cap))


async def gathered(settings: IceSettings) -> RTCPeerConnection:
    pc = RTCPeerConnection(settings.to_rtc_configuration())
    pc.createDataChannel("probe")
    with loopback_gathering():
        await pc.setLocalDescription(await pc.createOffer())
    return pc


def test_host_and_turn_sockets_get_the_larger_buffer() -> None:
    async def main() -> None:
        with Coturn.start() as turn:
            username, password = rest_credentials(turn.secret)
            settings = IceSettings.local(
                [{"urls": [turn.url], "username": username, "credential": password}])
            pc = await gathered(settings)
            try:
                sockets = list(ice_udp_sockets(pc))
                peers = [s.getpeername() for s in sockets if _connected(s)]
                # one host socket, and the one aioice connected to coturn for TURN
                assert len(sockets) == 2, sockets
                assert peers == [("127.0.0.1", turn.port)], peers
                before = [s.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF) for s in sockets]
                granted = enlarge_receive_buffers(pc)
                assert granted == [expected_buffer()] * 2, (before, granted)
                assert all(g > b for g, b in zip(granted, before, strict=True)) or \
                    expected_buffer() <= min(before), (before, granted)
            finally:
                await pc.close()

    asyncio.run(main())


def test_a_peer_connection_without_ice_sockets_is_left_alone() -> None:
    async def main() -> None:
        pc = RTCPeerConnection(IceSettings.local().to_rtc_configuration())
        try:
            assert enlarge_receive_buffers(pc) == []  # no SCTP transport, no sockets yet
        finally:
            await pc.close()

    asyncio.run(main())


def _connected(sock: socket.socket) -> bool:
    try:
        sock.getpeername()
    except OSError:
        return False
    return True
