"""Path-MTU discovery for aiortc's SCTP (`transfer_core/webrtc/sctp_pmtu.py`): the probe
packet, which sizes go to which peer, what the SDP says, whole DTLS records, and each
association's own packet size; plus pins on the aiortc internals it relies on, so an
aiortc upgrade fails here rather than in a transfer."""

from __future__ import annotations

import asyncio
import dis
import inspect
from types import SimpleNamespace
from typing import Any

import aiortc
import aiortc.rtcsctptransport as sctp_module
import pytest
from aiortc.rtcsctptransport import (
    USERDATA_MAX_LENGTH,
    DataChunk,
    HeartbeatAckChunk,
    HeartbeatChunk,
    RTCSctpTransport,
    parse_packet,
    serialize_packet,
)
from pyee.asyncio import AsyncIOEventEmitter

from tests.unit.test_sctp_ack import RecordingDtls
from transfer_core.webrtc import sctp_pmtu
from transfer_core.webrtc.sctp_pmtu import (
    ANY_PEER_READS,
    BASE_PACKET,
    PROBE_PACKETS,
    READS_WHOLE,
    install_path_mtu,
    path_mtu_of,
    probe_chunks,
    probe_of,
    probe_sizes,
    user_data_length,
)
from transfer_core.webrtc.sdp import MAX_PACKET_ATTRIBUTE, max_packet, with_max_packet

# --- pins: what the adapter relies on in aiortc ---------------------------------------


def test_pinned_aiortc_is_installed() -> None:
    assert aiortc.__version__ == sctp_pmtu.PINNED_AIORTC
    assert sctp_pmtu.supported()


def test_the_sized_methods_are_every_method_that_reads_the_packet_size() -> None:
    """The adapter gives each association its own copy of these; one it missed would
    keep using 1,189 bytes (say, a new burst limit in a later aiortc)."""
    readers = {
        name for name, fn in vars(RTCSctpTransport).items()
        if inspect.isfunction(fn) and name != "__init__"
        and any(i.argval == "USERDATA_MAX_LENGTH" for i in dis.get_instructions(fn))
    }
    assert readers == set(sctp_pmtu._SIZED_METHODS)
    assert user_data_length(BASE_PACKET) == USERDATA_MAX_LENGTH


def test_aiortc_answers_a_heartbeat_with_its_parameters() -> None:
    source = inspect.getsource(RTCSctpTransport._receive_chunk)
    assert "heartbeat_ack.params = chunk.params" in source


# --- the probe -------------------------------------------------------------------------


@pytest.mark.parametrize("size", PROBE_PACKETS)
def test_a_probe_is_exactly_its_size_and_aiortc_reads_only_its_heartbeat(size: int) -> None:
    nonce = b"\x01\x02\x03\x04"
    packet = serialize_packet(5000, 5000, 1234, sctp_pmtu._Chunks(probe_chunks(size, nonce)))  # type: ignore[arg-type]
    assert len(packet) == size
    _, _, tag, chunks = parse_packet(packet)  # checks the CRC too
    assert tag == 1234
    assert [type(c) for c in chunks] == [HeartbeatChunk]  # the PAD chunk (0x84) skipped
    assert isinstance(chunks[0], HeartbeatChunk)  # the line above, for mypy
    answer = HeartbeatAckChunk()
    answer.params = chunks[0].params
    assert probe_of(answer) == (nonce, size)


def test_a_heartbeat_ack_that_is_not_ours_is_left_alone() -> None:
    answer = HeartbeatAckChunk()
    answer.params = [(1, b"somebody else's heartbeat")]
    assert probe_of(answer) is None


def test_a_size_that_cannot_be_padded_is_refused() -> None:
    with pytest.raises(ValueError, match="cannot be padded"):
        probe_chunks(1401, b"abcd")


def test_sizes_for_a_peer_that_said_nothing_fit_any_webrtc_peer() -> None:
    assert probe_sizes(None) == tuple(s for s in PROBE_PACKETS if s <= ANY_PEER_READS)
    assert probe_sizes(None) == (1_400,)
    assert probe_sizes(READS_WHOLE) == PROBE_PACKETS
    assert probe_sizes(READS_WHOLE, ()) == ()


def test_a_peer_that_says_a_size_between_the_probes_gets_that_size_probed_too() -> None:
    # the page says 2,048 (Revision 2.5: what libwebrtc's DTLS reads)
    assert probe_sizes(2_048) == (2_048, 1_400)
    assert probe_sizes(9_000) == (9_000, 8_800, 1_400)
    assert probe_sizes(2_050) == (2_048, 1_400)  # a probe pads to whole 4-byte words
    assert probe_sizes(1_500) == (1_400,) and probe_sizes(1_200) == (1_400,)
    assert probe_sizes(2_048, (1_400,)) == (1_400,)  # never above the sizes asked for


# --- the SDP attribute (protocol Revision 2.4) -------------------------------------------

SDP = ("v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\nm=application 9 UDP/DTLS/SCTP"
       " webrtc-datachannel\r\nc=IN IP4 0.0.0.0\r\na=mid:0\r\na=sctp-port:5000\r\n"
       "a=max-message-size:262144\r\n")


def test_the_sdp_says_how_large_a_packet_we_read() -> None:
    said = with_max_packet(SDP, READS_WHOLE)
    assert f"a=max-message-size:262144\r\na={MAX_PACKET_ATTRIBUTE}:16384\r\n" in said
    assert max_packet(said) == READS_WHOLE
    assert with_max_packet(said, 999) == said  # said once
    assert max_packet(SDP) is None


@pytest.mark.parametrize("value", ["", "x", "-5", "99999999", "1e4"])
def test_a_malformed_max_packet_counts_as_not_said(value: str) -> None:
    assert max_packet(f"{SDP}a={MAX_PACKET_ATTRIBUTE}:{value}\r\n") is None


# --- one association's size ------------------------------------------------------------


async def test_each_association_cuts_messages_at_its_own_packet_size() -> None:
    raised, plain = _association(), _association()
    mtu = install_path_mtu(raised, PROBE_PACKETS)
    assert mtu is not None and path_mtu_of(raised) is mtu
    assert install_path_mtu(raised) is mtu  # idempotent
    assert install_path_mtu(plain, ()) is not None  # reads whole records, never probes
    mtu.use(16_000)
    await raised._send(stream_id=1, pp_id=53, user_data=b"x" * 40_000)
    await plain._send(stream_id=1, pp_id=53, user_data=b"x" * 40_000)
    assert _data_sizes(raised) == [15_972, 15_972, 8_056]
    assert _data_sizes(plain)[:2] == [USERDATA_MAX_LENGTH] * 2
    assert sctp_module.USERDATA_MAX_LENGTH == USERDATA_MAX_LENGTH  # aiortc's own untouched
    mtu.cancel()


async def test_the_search_takes_the_largest_size_answered_and_ignores_strangers(
    monkeypatch: Any,
) -> None:
    monkeypatch.setattr(sctp_pmtu, "PROBE_TIMEOUT", 0.2)
    sctp = _association()
    mtu = install_path_mtu(sctp, PROBE_PACKETS)
    assert mtu is not None
    sctp._set_state(RTCSctpTransport.State.ESTABLISHED)  # starts the search
    dtls = sctp.transport
    await _until(lambda: len(dtls.probes()) == 3)
    assert [len(p) for p in dtls.probes()] == list(PROBE_PACKETS)
    # the peer's answers: an unknown nonce (ignored), then the 8,800 and 1,400 probes
    heartbeats = {probe_of(_ack_of(p))[1]: _ack_of(p) for p in dtls.probes()}  # type: ignore[index]
    stranger = HeartbeatAckChunk()
    stranger.params = [(1, b"SGpm" + b"zzzz" + (16_000).to_bytes(4, "big"))]
    for chunk in (stranger, heartbeats[8_800], heartbeats[1_400]):
        await sctp._receive_chunk(chunk)
    assert mtu.packet_size == 8_800
    await _until(lambda: len(dtls.probes()) == 4)  # the 16,000 probe again, next round
    assert len(dtls.probes()[-1]) == 16_000
    await sctp._receive_chunk(_ack_of(dtls.probes()[-1]))
    await asyncio.wait_for(mtu.finished.wait(), 5)
    assert mtu.packet_size == 16_000 and mtu.probes_sent == 4


async def test_a_held_search_waits_for_its_release(monkeypatch: Any) -> None:
    # a DataPipe's setup holds the search until its channel is open
    monkeypatch.setattr(sctp_pmtu, "PROBE_TIMEOUT", 0.05)
    sctp = _association()
    mtu = install_path_mtu(sctp, PROBE_PACKETS)
    assert mtu is not None
    mtu.hold()
    sctp._set_state(RTCSctpTransport.State.ESTABLISHED)
    await asyncio.sleep(0.05)
    assert sctp.transport.probes() == [] and not mtu.finished.is_set()
    mtu.release()
    await _until(lambda: len(sctp.transport.probes()) == 3)
    mtu.cancel()


async def test_a_release_before_the_association_waits_for_it(monkeypatch: Any) -> None:
    sctp = _association()
    mtu = install_path_mtu(sctp, PROBE_PACKETS)
    assert mtu is not None
    mtu.hold()
    mtu.release()
    await asyncio.sleep(0.05)
    assert sctp.transport.probes() == []  # nothing to probe before it is established
    sctp._set_state(RTCSctpTransport.State.ESTABLISHED)
    await _until(lambda: len(sctp.transport.probes()) == 3)
    mtu.cancel()


async def test_a_path_that_answers_no_probe_keeps_webrtc_s_size(monkeypatch: Any) -> None:
    monkeypatch.setattr(sctp_pmtu, "PROBE_TIMEOUT", 0.05)
    sctp = _association()
    mtu = install_path_mtu(sctp, PROBE_PACKETS)
    assert mtu is not None
    sctp._set_state(RTCSctpTransport.State.ESTABLISHED)
    await asyncio.wait_for(mtu.finished.wait(), 5)
    assert mtu.packet_size == BASE_PACKET
    assert mtu.probes_sent == sctp_pmtu.MAX_PROBES * len(PROBE_PACKETS)
    await sctp._send(stream_id=1, pp_id=53, user_data=b"x" * 3000)
    n = USERDATA_MAX_LENGTH
    assert _data_sizes(sctp) == [n, n, 3000 - 2 * n]


# --- helpers ----------------------------------------------------------------------------


class _RecordingDtls(RecordingDtls, AsyncIOEventEmitter):
    """test_sctp_ack's recording stand-in for `RTCDtlsTransport`, which also takes the
    adapter's `statechange` listener and has no ICE below it (no socket to set
    don't-fragment on)."""

    def __init__(self) -> None:
        RecordingDtls.__init__(self)
        AsyncIOEventEmitter.__init__(self)
        self.transport = None

    def probes(self) -> list[bytes]:
        return [p for p in self.sent if p[12] == 4]  # a HEARTBEAT first


def _association() -> Any:
    sctp = RTCSctpTransport(_RecordingDtls())  # type: ignore[arg-type]
    sctp._remote_port = 5000
    sctp._cwnd = 10 ** 6  # nothing held back by congestion control
    return sctp


def _data_sizes(sctp: Any) -> list[int]:
    return [len(c.user_data) for p in sctp.transport.sent
            for c in parse_packet(p)[3] if isinstance(c, DataChunk)]


def _ack_of(packet: bytes) -> HeartbeatAckChunk:
    heartbeat = parse_packet(packet)[3][0]
    ack = HeartbeatAckChunk()
    ack.params = heartbeat.params  # type: ignore[attr-defined]
    return ack


async def _until(check: Any, seconds: float = 5) -> None:
    async with asyncio.timeout(seconds):
        while not check():
            await asyncio.sleep(0.001)


async def test_through_a_turn_relay_no_probe_exceeds_an_ethernet_frame(monkeypatch: Any) -> None:
    """The relay's leg to the peer is out of our hands (it may fragment): 1,400 at most.
    aioice's nominated pair is stood in for by plain objects (its shape is what
    `ice.selected_path` reads; the lab's relay tests see the real one)."""
    monkeypatch.setattr(sctp_pmtu, "PROBE_TIMEOUT", 0.05)
    sctp = _association()
    candidate = SimpleNamespace(type="relay", host="203.0.113.5", port=40000)
    pair = SimpleNamespace(local_candidate=candidate, remote_addr=("203.0.113.5", 40001),
                           remote_candidate=SimpleNamespace(type="host"))
    sctp.transport.transport = SimpleNamespace(
        _connection=SimpleNamespace(_nominated={1: pair}, _protocols=[]))
    mtu = install_path_mtu(sctp, PROBE_PACKETS)
    assert mtu is not None
    sctp._set_state(RTCSctpTransport.State.ESTABLISHED)
    await asyncio.wait_for(mtu.finished.wait(), 5)
    assert {len(p) for p in sctp.transport.probes()} == {1_400}

