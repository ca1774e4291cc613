"""The WebRTC channel layer: real aiortc peers in separate processes, on loopback only.

The two peers swap SDP through `PipeExchange`, a test harness over a multiprocessing
pipe: the signalling here is a stand-in, the real (signed, over the WebSocket relay)
exchange comes with the signalling client. Every peer runs in local-only mode, so
ICE gathers 127.0.0.1 alone and refuses every other remote candidate.

The SDP-text helpers (message sizes, fingerprints, candidate filtering) are pure and
tested here too, without peers.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import os
import queue
import random
from collections.abc import AsyncIterator
from typing import Any

import aioice.ice
import pytest
from aiortc import RTCPeerConnection
from aiortc.rtcconfiguration import RTCIceTransportPolicy

from tests.integration import webrtc_peer
from tests.integration.test_udp_buffers import expected_buffer
from transfer_core.errors import SGraphSendError
from transfer_core.protocol.record import SealedRecord
from transfer_core.webrtc import (
    ChannelClosedError,
    ChannelSetupTimeout,
    DataPipe,
    DtlsFingerprint,
    IceConfigError,
    IceSettings,
    MessageTooLargeError,
    SdpError,
    WebRTCError,
    candidate_address,
    candidate_lines,
    dtls_fingerprints,
    loopback_gathering,
    negotiated_max_message_size,
    open_as_answerer,
    open_as_offerer,
    record_size_for,
)
from transfer_core.webrtc.sctp_rwnd import RECEIVE_WINDOW_BYTES, receive_window_for
from transfer_core.webrtc.testing import PipeExchange

KiB = 1024

# --- two peers in two processes ------------------------------------------------------


def run_peers(scenario: str, answerer_loop: str = "asyncio") -> dict[str, dict[str, Any]]:
    """Run an offerer and an answerer process; return each one's report."""
    ctx = multiprocessing.get_context("spawn")
    offer_end, answer_end = ctx.Pipe()
    results = ctx.Queue()
    procs = [
        ctx.Process(target=webrtc_peer.run_peer,
                    args=("offerer", scenario, offer_end, results, "asyncio")),
        ctx.Process(target=webrtc_peer.run_peer,
                    args=("answerer", scenario, answer_end, results, answerer_loop)),
    ]
    for proc in procs:
        proc.start()
    reports: dict[str, Any] = {}
    try:
        while len(reports) < 2:
            role, report = results.get(timeout=60)
            reports[role] = report
    except queue.Empty:
        pytest.fail(f"peers did not finish; got {sorted(reports)}")
    finally:
        for proc in procs:
            proc.join(10)
            if proc.is_alive():
                proc.kill()
                proc.join()
    for role, report in reports.items():
        assert isinstance(report, dict), f"{role} failed: {report}"
    return reports


@pytest.fixture(scope="module")
def bulk() -> dict[str, dict[str, Any]]:
    """One transfer of ~4 MB, offerer on the default loop, answerer under uvloop."""
    return run_peers("bulk", answerer_loop="uvloop")


@pytest.fixture(scope="module")
def trickle() -> dict[str, dict[str, Any]]:
    """The answerer trickles its candidates like a browser, foreign ones first."""
    return run_peers("trickle")


def test_every_candidate_is_loopback(bulk: dict[str, dict[str, Any]]) -> None:
    offerer, answerer = bulk["offerer"], bulk["answerer"]
    for report in (offerer, answerer):
        for sdp in (report["local_sdp"], report["remote_sdp"]):
            lines = candidate_lines(sdp)
            assert lines, "no candidate in the SDP"
            assert {candidate_address(line) for line in lines} == {"127.0.0.1"}
            for address in report["foreign"]:
                assert address not in sdp
        assert set(report["local_candidates"]) == {"127.0.0.1"}
        assert set(report["remote_candidates"]) == {"127.0.0.1"}


def test_messages_arrive_intact_and_in_order(bulk: dict[str, dict[str, Any]]) -> None:
    offerer, answerer = bulk["offerer"], bulk["answerer"]
    assert answerer["text"] == webrtc_peer.TEXT
    assert answerer["indices"] == list(range(webrtc_peer.MESSAGES))
    assert answerer["received_digest"] == offerer["sent_digest"]
    assert answerer["bytes_received"] == offerer["bytes_sent"] > 3_000_000
    assert answerer["messages_received"] == offerer["messages_sent"] == webrtc_peer.MESSAGES + 1
    assert offerer["ack"] == "ack"
    # both sides are aiortc: 256 KiB advertised, 128 KiB records preferred
    assert offerer["max_message_size"] == answerer["max_message_size"] == 256 * KiB
    assert offerer["record_size"] == 128 * KiB


def test_an_empty_datagram_from_a_stranger_changes_nothing(
        bulk: dict[str, dict[str, Any]]) -> None:
    # sent to the receiver's sockets mid-transfer; aiortc alone would close on it
    answerer = bulk["answerer"]
    assert answerer["empty_datagrams"] >= 1
    assert answerer["received_digest"] == bulk["offerer"]["sent_digest"]
    assert answerer["indices"] == list(range(webrtc_peer.MESSAGES))


def test_each_end_advertises_what_its_socket_holds_and_the_other_heads_for_it(
    bulk: dict[str, dict[str, Any]],
) -> None:
    """aiortc alone advertises 1 MiB, where its sender's slow start would end; ours
    advertise what their sockets were granted (8 MiB as root: tests/integration/
    test_udp_buffers.py says what this machine grants)."""
    window = receive_window_for([expected_buffer()])
    if os.geteuid() == 0:
        assert window == RECEIVE_WINDOW_BYTES == 8 * 1024 * 1024
    for report in bulk.values():
        assert report["advertised_rwnd"] == window
        assert report["ssthresh"] == window


def test_back_pressure_bounds_buffered_amount(bulk: dict[str, dict[str, Any]]) -> None:
    offerer = bulk["offerer"]
    bound = offerer["high_water"] + offerer["largest_message"]
    assert offerer["max_buffered_amount"] <= bound
    assert offerer["max_buffered_seen"] <= bound
    # the sender did outrun the network: the mark was reached, so the wait was exercised
    assert offerer["max_buffered_amount"] >= offerer["high_water"]


def test_peer_close_ends_recv(bulk: dict[str, dict[str, Any]]) -> None:
    assert bulk["answerer"]["after_peer_close"] == "ChannelClosedError"
    assert bulk["offerer"]["send_after_close"] == "ChannelClosedError"


def test_no_asyncio_errors_in_peers(bulk: dict[str, dict[str, Any]]) -> None:
    for report in bulk.values():
        assert report["asyncio_errors"] == []  # e.g. "Task was destroyed but it is pending!"


def test_trickled_foreign_candidates_are_dropped(trickle: dict[str, dict[str, Any]]) -> None:
    offerer, answerer = trickle["offerer"], trickle["answerer"]
    trickled = [c for c in answerer["trickled"] if c is not None]
    assert {candidate_address(c) for c in trickled} - {"127.0.0.1"}, "nothing foreign was sent"
    assert set(offerer["remote_candidates"]) == {"127.0.0.1"}
    assert answerer["indices"] == list(range(5))
    assert offerer["asyncio_errors"] == answerer["asyncio_errors"] == []


# --- ICE settings ---------------------------------------------------------------------


def test_rtc_configuration_never_has_none_servers() -> None:
    for settings in (
        IceSettings(),
        IceSettings.local(),
        IceSettings(servers=[{"urls": ["stun:127.0.0.1:3478"]}], local_only=True),
    ):
        config = settings.to_rtc_configuration()
        assert config.iceServers is not None
        assert isinstance(config.iceServers, list)
    assert IceSettings().to_rtc_configuration().iceServers == []


def test_rtc_configuration_carries_backend_servers_and_relay_policy() -> None:
    turn = {"urls": ["turn:127.0.0.1:3478?transport=udp"], "username": "u", "credential": "p"}
    config = IceSettings(servers=[turn], local_only=True, relay_only=True).to_rtc_configuration()
    assert config.iceTransportPolicy == RTCIceTransportPolicy.RELAY
    (server,) = config.iceServers or []
    assert (server.urls, server.username, server.credential) == (turn["urls"], "u", "p")
    assert IceSettings().to_rtc_configuration().iceTransportPolicy == RTCIceTransportPolicy.ALL


def test_bad_ice_settings_are_refused() -> None:
    with pytest.raises(IceConfigError):
        IceSettings(servers=[{"urls": ["stun:stun.example.org:3478"]}], local_only=True)
    with pytest.raises(IceConfigError):
        IceSettings(servers=[{"urls": ["stun:127.0.0.1"]}], relay_only=True)
    with pytest.raises(IceConfigError):
        IceSettings(servers=[{"urls": ["http://127.0.0.1"]}])
    assert issubclass(IceConfigError, WebRTCError) and issubclass(WebRTCError, SGraphSendError)


HOST = "candidate:1 1 udp 2130706431 {} 50000 typ host"


def test_remote_candidate_filter() -> None:
    local = IceSettings.local()
    assert local.accepts_remote_candidate(HOST.format("127.0.0.1"))
    assert local.accepts_remote_candidate("a=" + HOST.format("127.0.0.1"))
    for foreign in ("192.168.1.20", "10.0.0.2", "::1", "8.8.8.8", "4f1c-peer.local", "127.0.0.2"):
        assert not local.accepts_remote_candidate(HOST.format(foreign))
    assert not local.accepts_remote_candidate("candidate:garbage")
    relayed = "candidate:2 1 udp 16777215 192.0.2.9 3478 typ relay raddr 0.0.0.0 rport 0"
    assert not local.accepts_remote_candidate(relayed)
    assert IceSettings().accepts_remote_candidate(HOST.format("192.168.1.20"))


def test_remote_sdp_filter() -> None:
    sdp = "\r\n".join([
        "v=0", "m=application 9 UDP/DTLS/SCTP webrtc-datachannel",
        "a=" + HOST.format("192.168.1.20"), "a=" + HOST.format("127.0.0.1"),
        "a=" + HOST.format("abcd.local"), "a=end-of-candidates",
    ]) + "\r\n"
    filtered = IceSettings.local().filter_remote_sdp(sdp)
    assert [candidate_address(c) for c in candidate_lines(filtered)] == ["127.0.0.1"]
    assert "a=end-of-candidates\r\n" in filtered and "192.168" not in filtered
    assert IceSettings().filter_remote_sdp(sdp) == sdp


async def test_local_only_gathering_yields_loopback_alone() -> None:
    pc = RTCPeerConnection(IceSettings.local().to_rtc_configuration())
    try:
        pc.createDataChannel("probe")
        with loopback_gathering():
            await pc.setLocalDescription(await pc.createOffer())
        lines = candidate_lines(pc.localDescription.sdp)
        assert lines and {candidate_address(c) for c in lines} == {"127.0.0.1"}
    finally:
        await pc.close()
    # outside the block the patched discovery behaves as aioice's own (no loopback)
    assert "127.0.0.1" not in aioice.ice.get_host_addresses(use_ipv4=True, use_ipv6=False)


# --- SDP text: message sizes and fingerprints -----------------------------------------

SDP = """v=0
o=- 1 1 IN IP4 0.0.0.0
s=-
t=0 0
a=group:BUNDLE 0
{session}m=application 9 UDP/DTLS/SCTP webrtc-datachannel
c=IN IP4 0.0.0.0
a=mid:0
a=sctp-port:5000
{media}"""


def sdp(session: str = "", media: str = "") -> str:
    return SDP.format(session=session, media=media).replace("\n", "\r\n")


@pytest.mark.parametrize(("advertised", "negotiated", "record"), [
    ("a=max-message-size:16384\n", 16 * KiB, 16 * KiB),
    ("a=max-message-size:262144\n", 256 * KiB, 128 * KiB),
    ("", 64 * KiB, 64 * KiB),  # absent: RFC 8841 says 65536
    ("a=max-message-size:0\n", 256 * KiB, 128 * KiB),  # 0: any size, capped
    ("a=max-message-size:1073741823\n", 256 * KiB, 128 * KiB),  # Firefox's figure
    ("a=max-message-size:8192\n", 16 * KiB, 16 * KiB),  # floored
    ("a=max-message-size:40000\n", 40000, 40000),
])
def test_max_message_size_and_record_size(advertised: str, negotiated: int, record: int) -> None:
    assert negotiated_max_message_size(sdp(media=advertised)) == negotiated
    assert record_size_for(negotiated) == record


def test_record_size_preference() -> None:
    assert record_size_for(256 * KiB, preferred=256 * KiB) == 256 * KiB
    assert record_size_for(256 * KiB, preferred=1 * KiB) == 16 * KiB


FP = "AB:CD:" + ":".join(["01"] * 30)


def test_fingerprints_at_session_or_media_level() -> None:
    at_media = dtls_fingerprints(sdp(media=f"a=fingerprint:sha-256 {FP.lower()}\n"))
    assert at_media == [DtlsFingerprint("sha-256", FP)]
    both = dtls_fingerprints(sdp(
        session=f"a=fingerprint:SHA-256 {FP}\n",
        media=f"a=fingerprint:sha-256 {FP}\na=fingerprint:sha-512 {FP}\n",
    ))
    assert both == [DtlsFingerprint("sha-256", FP), DtlsFingerprint("sha-512", FP)]
    assert str(both[0]) == f"sha-256 {FP}"
    with pytest.raises(SdpError):
        dtls_fingerprints(sdp())


async def test_fingerprint_of_a_real_aiortc_sdp() -> None:
    pc = RTCPeerConnection(IceSettings.local().to_rtc_configuration())
    try:
        pc.createDataChannel("probe")
        with loopback_gathering():
            await pc.setLocalDescription(await pc.createOffer())
        assert pc.sctp is not None
        local = pc.sctp.transport.getLocalParameters().fingerprints
        found = dtls_fingerprints(pc.localDescription.sdp)
        assert {(f.algorithm, f.value) for f in found} == {
            (f.algorithm.lower(), f.value.upper()) for f in local
        }
    finally:
        await pc.close()


# --- setup and pipe behaviour in one process ------------------------------------------


class SilentExchange:
    """A peer that never answers."""

    def __init__(self) -> None:
        self.sent: list[str] = []

    async def send_description(self, sdp: str, kind: str) -> None:
        self.sent.append(kind)

    async def receive_description(self, kind: str) -> str:
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    async def remote_candidates(self) -> AsyncIterator[str | None]:
        await asyncio.Event().wait()
        yield None


async def test_setup_times_out_with_a_typed_error() -> None:
    exchange = SilentExchange()
    with pytest.raises(ChannelSetupTimeout):
        await open_as_offerer(IceSettings.local(), exchange, timeout=0.5)
    assert exchange.sent == ["offer"]
    with pytest.raises(ChannelSetupTimeout):
        await open_as_answerer(IceSettings.local(), SilentExchange(), timeout=0.2)


async def test_pipe_in_one_process_refuses_oversize_and_closed_sends() -> None:
    a, b = multiprocessing.Pipe()
    left, right = PipeExchange(a), PipeExchange(b)
    settings = IceSettings.local()
    offerer, answerer = await asyncio.gather(
        open_as_offerer(settings, left, timeout=10), open_as_answerer(settings, right, timeout=10)
    )
    pipes: tuple[DataPipe, DataPipe] = (offerer, answerer)
    try:
        assert offerer.timing.setup_ms > 0 and answerer.timing.offer_to_open_ms > 0
        with pytest.raises(MessageTooLargeError):
            await offerer.send(bytes(offerer.max_message_size + 1))
        await offerer.send(b"")
        await offerer.send(bytes(offerer.max_message_size))
        assert await answerer.recv() == b""
        assert len(await answerer.recv()) == offerer.max_message_size
        # a record in pieces (header and ciphertext apart) arrives as its bytes; one
        # over the peer's limit is refused like any message
        sealed = SealedRecord(b"H" * 32, random.Random(7).randbytes(100_000))
        await offerer.send(sealed)
        assert await answerer.recv() == bytes(sealed)
        with pytest.raises(MessageTooLargeError):
            await offerer.send(SealedRecord(bytes(32), bytes(offerer.max_message_size)))
        await answerer.close()
        await asyncio.wait_for(offerer.closed.wait(), 10)
        with pytest.raises(ChannelClosedError):
            await offerer.send(b"x")
        with pytest.raises(ChannelClosedError):
            await offerer.send(sealed)
        with pytest.raises(ChannelClosedError):
            await offerer.recv()
    finally:
        for pipe in pipes:
            await pipe.close()
        left.close()
        right.close()


class ForgedCandidate(SGraphSendError):
    """What a signalling layer raises for a candidate whose signature fails."""


class RefusingExchange(PipeExchange):
    async def remote_candidates(self) -> AsyncIterator[str | None]:
        raise ForgedCandidate("candidate signature does not verify")
        yield None


async def test_an_exchange_error_on_candidates_fails_setup() -> None:
    a, b = multiprocessing.Pipe()
    left, right = RefusingExchange(a), PipeExchange(b)
    settings = IceSettings.local()
    answering = asyncio.ensure_future(open_as_answerer(settings, right, timeout=3))
    try:
        with pytest.raises(ForgedCandidate):
            await open_as_offerer(settings, left, timeout=10)
    finally:
        # the answerer may open, time out or see the failure; any is fine here
        with contextlib.suppress(WebRTCError):
            await (await answering).close()
        left.close()
        right.close()
