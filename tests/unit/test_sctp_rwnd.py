"""Our SCTP receiver advertises a window as large as our senders' largest flow window.

Two real aiortc associations exchange their INIT and INIT ACK (packets recorded below
the SCTP transport, as in test_sctp_ack.py): each sender starts its slow start toward
the window the other advertised (aiortc sets `ssthresh` from it), so 1 MiB would end
slow start at 1 MiB whatever the path.
"""

from typing import Any

import aiortc
import pytest
from aiortc.rtcsctptransport import InitAckChunk, InitChunk, RTCSctpTransport, parse_packet

from tests.unit.test_sctp_ack import RecordingDtls
from transfer_core.transport.window import FLOW_WINDOW_MAX_BYTES
from transfer_core.webrtc.sctp_ack import PINNED_AIORTC
from transfer_core.webrtc.sctp_rwnd import (
    AIORTC_RECEIVE_WINDOW,
    RECEIVE_WINDOW_BYTES,
    install_receive_window,
    receive_window_for,
)


def _association() -> Any:
    sctp = RTCSctpTransport(RecordingDtls())  # type: ignore[arg-type]
    sctp._remote_port = 5000
    return sctp


def _chunks(sctp: Any) -> list[Any]:
    return [c for packet in sctp.transport.sent for c in parse_packet(packet)[3]]


async def _handshake(client: Any, server: Any) -> tuple[InitChunk, InitAckChunk]:
    await client._init()
    init = next(c for c in _chunks(client) if isinstance(c, InitChunk))
    await server._receive_chunk(init)
    init_ack = next(c for c in _chunks(server) if isinstance(c, InitAckChunk))
    await client._receive_chunk(init_ack)
    return init, init_ack


async def test_both_ends_advertise_the_flow_windows_ceiling_and_start_toward_it() -> None:
    assert aiortc.__version__ == PINNED_AIORTC
    assert RECEIVE_WINDOW_BYTES == FLOW_WINDOW_MAX_BYTES == 8 * 1024 * 1024
    client, server = _association(), _association()
    assert install_receive_window(client) and install_receive_window(server)
    init, init_ack = await _handshake(client, server)
    assert init.advertised_rwnd == init_ack.advertised_rwnd == RECEIVE_WINDOW_BYTES
    assert server._ssthresh == client._ssthresh == RECEIVE_WINDOW_BYTES
    assert client._advertised_rwnd == RECEIVE_WINDOW_BYTES  # nothing held yet


async def test_aiortc_alone_advertises_1_mib_so_its_slow_start_ends_there() -> None:
    """What the adapter changes, on aiortc's own code: if aiortc's default moves, the
    adapter's check of it (`AIORTC_RECEIVE_WINDOW`) must move too."""
    client, server = _association(), _association()
    init, init_ack = await _handshake(client, server)
    assert init.advertised_rwnd == init_ack.advertised_rwnd == AIORTC_RECEIVE_WINDOW
    assert server._ssthresh == client._ssthresh == AIORTC_RECEIVE_WINDOW


async def test_one_end_with_the_adapter_widens_only_what_it_receives() -> None:
    ours, plain = _association(), _association()
    assert install_receive_window(ours)
    await _handshake(plain, ours)
    assert plain._ssthresh == RECEIVE_WINDOW_BYTES  # plain sends toward our window
    assert ours._ssthresh == AIORTC_RECEIVE_WINDOW  # and we toward its 1 MiB


async def test_set_until_the_association_starts_then_refused() -> None:
    started = _association()
    await started._init()
    assert not install_receive_window(started)
    assert started._advertised_rwnd == AIORTC_RECEIVE_WINDOW
    assert not install_receive_window(None)
    fresh = _association()
    assert install_receive_window(fresh, 2 * 1024 * 1024)  # an answerer's, before its sockets
    assert install_receive_window(fresh)  # once it knows them
    assert fresh._advertised_rwnd == RECEIVE_WINDOW_BYTES


@pytest.mark.parametrize(("granted", "window"), [
    ([], AIORTC_RECEIVE_WINDOW),  # no socket read: aiortc's own
    ([425_984], AIORTC_RECEIVE_WINDOW),  # a stock kernel's 208 KiB cap, reported doubled
    ([8 << 20], 2 << 20),  # 4 MiB asked within a 4 MiB rmem_max
    ([32 << 20, 32 << 20], RECEIVE_WINDOW_BYTES),  # 16 MiB granted (root, or rmem_max raised)
    ([32 << 20, 8 << 20], 2 << 20),  # the smallest socket decides
    ([64 << 20], RECEIVE_WINDOW_BYTES),  # never past the flow-control window's ceiling
])
def test_the_window_is_what_the_sockets_hold(granted: list[int], window: int) -> None:
    assert receive_window_for(granted) == window
