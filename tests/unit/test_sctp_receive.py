"""The short receive path (`transfer_core.webrtc.sctp_receive`).

The association tests run aiortc's real `RTCSctpTransport` twice over the same
packets, one plain and one adapted, and compare what each delivered, acknowledged and
kept; only the DTLS transport under them is a stand-in that records the SACKs (a real
one would encrypt them). The demux tests use two real aioice connections over
127.0.0.1. Every real transfer in the suite (CLI to CLI, browser to CLI) runs both.
"""

from __future__ import annotations

import asyncio
import random
import socket
from typing import Any

import aioice
import aiortc
import pytest
from aioice import ice as aioice_ice
from aioice.ice import Connection, StunProtocol
from aiortc import rtcsctptransport
from aiortc.rtcsctptransport import (
    SCTP_DATA_FIRST_FRAG,
    SCTP_DATA_LAST_FRAG,
    DataChunk,
    ForwardTsnChunk,
    HeartbeatChunk,
    RTCSctpTransport,
    SackChunk,
    parse_packet,
    serialize_packet,
)
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.unit.aioice_pair import connected_pair
from tests.unit.pins import source_digest
from tests.unit.test_sctp_ack import RecordingDtls
from transfer_core.webrtc import sctp_receive
from transfer_core.webrtc.ice_pacing import PINNED_AIOICE
from transfer_core.webrtc.sctp_ack import PINNED_AIORTC, install_delayed_ack
from transfer_core.webrtc.sctp_receive import install_dtls_demux, install_lean_receive

TAG = 0x5EED
WEBRTC_BINARY = 53

# --- the pins --------------------------------------------------------------------------

# sha256 (first 16 hex digits) of `inspect.getsource` of what the adapter stands in for
# or calls, as reviewed for aiortc 1.16.0 and aioice 0.13.0: the short way must do what
# `_handle_data` -> `_receive_chunk` -> `_receive_data_chunk` -> `_mark_received` do
# for a lone DATA chunk, parse it as `parse_packet` and `DataChunk` do, and the demux
# must hand data on as `datagram_received` does.
PINNED: dict[tuple[Any, str], str] = {
    (RTCSctpTransport, "_handle_data"): "8661b724e20776bb",
    (RTCSctpTransport, "_receive_chunk"): "830bae988365ba89",
    (RTCSctpTransport, "_receive_data_chunk"): "790c2bb8cd0f5dd7",
    (RTCSctpTransport, "_mark_received"): "2ac68b6a3934ca87",
    (rtcsctptransport, "parse_packet"): "b88a5f1d01e14c5f",
    (DataChunk, "__init__"): "d1db3756a5eb56ba",
    (StunProtocol, "datagram_received"): "ff4c8b910d45fb3a",
    (Connection, "data_received"): "5631b17fab717d6b",
}


def test_the_pinned_releases_are_installed() -> None:
    assert (aiortc.__version__, aioice.__version__) == (PINNED_AIORTC, PINNED_AIOICE), (
        "review transfer_core/webrtc/sctp_receive.py against the new aiortc/aioice"
    )


# sorted outside the decorator: in its context mypy reads the keys as `object`
PINNED_BY_NAME = sorted(PINNED, key=lambda k: k[1])


@pytest.mark.parametrize(("owner", "name"), PINNED_BY_NAME)
def test_what_the_short_way_stands_in_for_is_unchanged(owner: Any, name: str) -> None:
    assert source_digest(owner, name) == PINNED[(owner, name)], (
        f"{owner.__name__}.{name} changed: review sctp_receive.py against it"
    )


# --- two associations, one plain and one adapted, over the same packets -----------------


class Association:
    def __init__(self, lean: bool, first_tsn: int) -> None:
        self.dtls = RecordingDtls()
        self.sctp = RTCSctpTransport(self.dtls)  # type: ignore[arg-type]
        self.sctp._remote_port = 5000
        self.sctp._local_verification_tag = TAG
        self.sctp._last_received_tsn = (first_tsn - 1) % 2**32
        self.sctp._set_state(RTCSctpTransport.State.ESTABLISHED)
        self.delivered: list[tuple[int, int, bytes]] = []
        self.chunks_seen: list[str] = []

        async def deliver(stream_id: int, pp_id: int, data: bytes) -> None:
            self.delivered.append((stream_id, pp_id, data))

        general_chunk = self.sctp._receive_chunk

        async def see(chunk: Any) -> None:
            self.chunks_seen.append(type(chunk).__name__)
            await general_chunk(chunk)

        self.sctp._data_channel_receive = deliver  # type: ignore[method-assign]
        self.sctp._receive_chunk = see  # type: ignore[method-assign]
        if lean:
            assert install_lean_receive(self.sctp)

    def state(self) -> tuple[Any, ...]:
        s = self.sctp
        return (s._last_received_tsn, sorted(s._sack_misordered), list(s._sack_duplicates),
                s._advertised_rwnd, s._sack_needed, self.delivered, self.dtls.sent)


def fragment(tsn: int, flags: int, stream_seq: int, payload: bytes) -> DataChunk:
    chunk = DataChunk(flags=flags)
    chunk.tsn, chunk.stream_id, chunk.stream_seq = tsn % 2**32, 1, stream_seq
    chunk.protocol, chunk.user_data = WEBRTC_BINARY, payload
    return chunk


def message_chunks(sizes: list[int], first_tsn: int) -> list[DataChunk]:
    """Each message of `sizes` fragments, in TSN order; payload lengths vary so that
    some chunks need padding."""
    chunks, tsn = [], first_tsn
    for seq, count in enumerate(sizes):
        for i in range(count):
            flags = (SCTP_DATA_FIRST_FRAG if i == 0 else 0) | (
                SCTP_DATA_LAST_FRAG if i == count - 1 else 0)
            chunks.append(fragment(tsn, flags, seq, bytes([seq % 256, i % 256]) * (50 + tsn % 3)))
            tsn += 1
    return chunks


def packet(*chunks: Any, tag: int = TAG) -> bytes:
    if len(chunks) == 1:
        return serialize_packet(5000, 5000, tag, chunks[0])
    first = serialize_packet(5000, 5000, tag, chunks[0])
    body = first[12:] + b"".join(bytes(c) for c in chunks[1:])
    header = first[:8]
    checksum = rtcsctptransport.crc32c(header + b"\x00\x00\x00\x00" + body)
    return header + checksum.to_bytes(4, "little") + body


async def replay(packets: list[bytes], first_tsn: int) -> tuple[Association, Association]:
    plain, lean = Association(False, first_tsn), Association(True, first_tsn)
    for data in packets:
        await plain.sctp._handle_data(data)
        await lean.sctp._handle_data(data)
        assert lean.state() == plain.state()
    return plain, lean


@settings(max_examples=60, deadline=None)
@given(
    sizes=st.lists(st.integers(1, 6), min_size=1, max_size=8),
    seed=st.integers(0, 2**32 - 1),
    # away from 2**32: across it aiortc's own receiver goes wrong (the wrap tests below)
    first_tsn=st.sampled_from([1, 1000, 2**31 - 3]),
)
async def test_the_adapted_association_does_what_aiortc_does(
    sizes: list[int], seed: int, first_tsn: int
) -> None:
    rng = random.Random(seed)
    chunks = message_chunks(sizes, first_tsn)
    packets: list[bytes] = []
    for chunk in chunks:
        roll = rng.random()
        if roll < 0.1 and packets:  # a duplicate of an earlier packet
            packets.append(rng.choice(packets))
        if roll < 0.15:  # two DATA chunks bundled (the other: an old one, a duplicate)
            packets.append(packet(chunk, rng.choice(chunks)))
            continue
        packets.append(packet(chunk))
        if 0.15 <= roll < 0.2:  # the same packet with a flipped bit: dropped
            broken = bytearray(packets[-1])
            broken[-5] ^= 0x10
            packets.append(bytes(broken))
        elif 0.2 <= roll < 0.25:  # addressed to another association: dropped
            packets.append(packet(chunk, tag=TAG + 1))
        elif 0.25 <= roll < 0.3:  # a control chunk alone
            packets.append(packet(HeartbeatChunk()))
    for i in range(0, len(packets) - 1, 2):  # reorder some neighbours
        if rng.random() < 0.3:
            packets[i], packets[i + 1] = packets[i + 1], packets[i]
    plain, lean = await replay(packets, first_tsn)
    delivered = sorted(seq for _, _, data in lean.delivered for seq in data[:1])
    assert delivered == sorted({seq % 256 for seq in range(len(sizes))}), "every message, once"


async def test_a_lone_in_order_data_chunk_takes_the_short_way() -> None:
    chunks = message_chunks([3], 1000)
    plain, lean = await replay([packet(c) for c in chunks], 1000)
    assert plain.chunks_seen == ["DataChunk"] * 3
    assert lean.chunks_seen == []  # straight to _receive_data_chunk
    assert len(lean.delivered) == 1 and lean.sctp._last_received_tsn == 1002
    # each packet sent back is one SACK; parse_packet types its chunks as the base Chunk
    acks = [parse_packet(p)[3][0] for p in lean.dtls.sent]
    assert [a.cumulative_tsn for a in acks] == [1000, 1001, 1002]  # type: ignore[attr-defined]


async def test_a_duplicate_not_yet_reported_is_dropped_as_aiortc_drops_it() -> None:
    # aiortc acknowledges a duplicate in the same packet's SACK, so the replays above
    # never hold one when the next TSN arrives; a SACK policy that held it would
    plain, lean = Association(False, 1000), Association(True, 1000)
    for association in (plain, lean):
        association.sctp._sack_duplicates = [998, 999]
        assert association.sctp._mark_received(1000) is False
    assert lean.state() == plain.state()
    assert lean.sctp._sack_duplicates == [] and lean.sctp._last_received_tsn == 1000


def sack_of(sent: bytes) -> SackChunk:
    """The SACK chunk of a packet the association sent."""
    (chunk,) = parse_packet(sent)[3]
    assert isinstance(chunk, SackChunk)
    return chunk


@settings(max_examples=80, deadline=None)
@given(
    sizes=st.lists(st.integers(1, 12), min_size=1, max_size=10),
    seed=st.integers(0, 2**32 - 1),
    loss=st.sampled_from([0.05, 0.2, 0.5]),
    first_tsn=st.sampled_from([1, 2**31 - 3]),
)
async def test_losses_and_their_retransmissions_do_what_aiortc_does(
    sizes: list[int], seed: int, loss: float, first_tsn: int
) -> None:
    # the held TSNs as runs: many holes, retransmissions in any order, some twice
    rng = random.Random(seed)
    chunks = message_chunks(sizes, first_tsn)
    lost = [c for c in chunks if rng.random() < loss]
    packets = [packet(c) for c in chunks if c not in lost]
    resent = [packet(c) for c in lost + rng.sample(chunks, len(chunks) // 4)]
    rng.shuffle(resent)
    packets += resent
    plain, lean = await replay(packets, first_tsn)
    assert not lean.sctp._sack_misordered
    assert len(lean.delivered) == len(sizes)


async def test_a_run_across_the_tsn_wrap_moves_the_cumulative_tsn() -> None:
    # TSNs 2**32 - 2, 2**32 - 1, 0: the last two arrive first, then the hole's
    first = 2**32 - 2
    a, b, c = message_chunks([3], first)
    plain, lean = Association(False, first), Association(True, first)
    for association in (plain, lean):
        for chunk in (b, c, a):
            await association.sctp._handle_data(packet(chunk))
    assert [sack_of(p).gaps for p in lean.dtls.sent] == [[(2, 2)], [(2, 3)], []]
    assert [sack_of(p).cumulative_tsn for p in lean.dtls.sent] == [2**32 - 3] * 2 + [0]
    assert not lean.sctp._sack_misordered and len(lean.delivered) == 1
    # aiortc 1.16 sorts the raw integers: 0 comes before 2**32 - 1, so the run is
    # reported as two blocks the wrong way round, and its cumulative TSN stays where it
    # was even when the hole's TSN arrives (it looks for that TSN first in the sorted
    # set, finds 0 there, and stops): held, it would stay held
    assert sack_of(plain.dtls.sent[1]).gaps == [(3, 3), (2, 2)]
    assert plain.sctp._last_received_tsn == 2**32 - 3
    assert sorted(plain.sctp._sack_misordered) == [0, 2**32 - 2, 2**32 - 1]


@settings(max_examples=60, deadline=None)
@given(
    sizes=st.lists(st.integers(1, 12), min_size=1, max_size=6),
    seed=st.integers(0, 2**32 - 1),
    first_tsn=st.integers(2**32 - 40, 2**32 - 1),
)
async def test_across_the_tsn_wrap_every_sack_says_what_arrived(
    sizes: list[int], seed: int, first_tsn: int
) -> None:
    # no aiortc to compare with here: each SACK against what the packets so far carried
    rng = random.Random(seed)
    chunks = message_chunks(sizes, first_tsn)
    order = chunks[:]
    rng.shuffle(order)
    lean = Association(True, first_tsn)
    arrived: set[int] = set()
    for chunk in order + chunks:  # everything once in any order, then again in order
        await lean.sctp._handle_data(packet(chunk))
        arrived.add((chunk.tsn - first_tsn) % 2**32)
        cumulative = 0
        while cumulative in arrived:
            cumulative += 1
        sack = sack_of(lean.dtls.sent[-1])
        assert sack.cumulative_tsn == (first_tsn + cumulative - 1) % 2**32
        held = sorted(o - cumulative + 1 for o in arrived if o >= cumulative)
        assert [t for a, b in sack.gaps for t in range(a, b + 1)] == held
    assert len(lean.delivered) == len(sizes)


async def test_a_forward_tsn_over_held_tsns_does_what_aiortc_does() -> None:
    # aiortc's FORWARD TSN handler filters the held set itself; the runs follow it
    chunks = message_chunks([2, 2, 2, 2], 1000)
    forward = ForwardTsnChunk()
    forward.cumulative_tsn, forward.streams = 1002, [(1, 1)]
    packets = [packet(chunks[i]) for i in (3, 5)] + [packet(forward)]
    packets += [packet(chunks[i]) for i in (7, 6, 4)]
    plain, lean = await replay(packets, 1000)
    assert lean.sctp._last_received_tsn == 1007 and not lean.sctp._sack_misordered


async def test_a_delayed_ack_installed_either_side_sends_the_runs_sacks() -> None:
    for ack_first in (True, False):
        association = Association(False, 1000)
        sctp = association.sctp
        if ack_first:
            ack = install_delayed_ack(sctp)
            assert install_lean_receive(sctp)
        else:
            assert install_lean_receive(sctp)
            ack = install_delayed_ack(sctp)
        assert ack is not None
        assert sctp._send_sack == ack._on_sack_needed  # the policy decides when
        assert type(getattr(ack.build_sack, "__self__", None)) is sctp_receive._HeldTsns
        a, b, c = message_chunks([3], 1000)
        for chunk in (a, c):  # a gap: acknowledged at once, with its block
            await sctp._handle_data(packet(chunk))
        assert sack_of(association.dtls.sent[-1]).gaps == [(2, 2)]


async def test_no_sack_before_any_data() -> None:
    association = Association(True, 1000)
    association.sctp._last_received_tsn = None
    await association.sctp._send_sack()
    assert association.dtls.sent == []


async def test_everything_else_takes_aiortcs_own_way() -> None:
    a, b, c = message_chunks([3], 1000)
    corrupted = bytearray(packet(c))
    corrupted[20] ^= 1
    _, lean = await replay(
        [packet(a, b), packet(HeartbeatChunk()), bytes(corrupted), packet(c, tag=TAG + 1),
         packet(c)], 1000)
    # the bundle and the heartbeat pass _receive_chunk; the broken ones go nowhere
    assert lean.chunks_seen == ["DataChunk", "DataChunk", "HeartbeatChunk"]
    assert len(lean.delivered) == 1


def test_a_cut_or_overlong_packet_is_not_taken_the_short_way() -> None:
    (chunk,) = message_chunks([1], 1000)
    whole = packet(chunk)
    assert sctp_receive._single_data_chunk(whole, TAG) is not None
    assert sctp_receive._single_data_chunk(whole[:27], TAG) is None
    assert sctp_receive._single_data_chunk(whole + b"\x00" * 4, TAG) is None  # 4 past: a chunk
    assert sctp_receive._single_data_chunk(whole, TAG + 1) is None


async def test_install_is_idempotent_and_needs_a_transport() -> None:
    association = Association(True, 1)
    assert install_lean_receive(association.sctp)
    assert install_lean_receive(None) is False


async def test_another_aiortc_release_keeps_aiortc_as_it_is(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(aiortc, "__version__", "9.9.9")
    association = Association(False, 1)
    assert install_lean_receive(association.sctp) is False
    assert "_handle_data" not in vars(association.sctp)


# --- the demux, on two real aioice connections ------------------------------------------


def host_protocols(connection: Connection) -> list[StunProtocol]:
    return [p for p in connection._protocols if type(p) is StunProtocol]


async def test_dtls_datagrams_skip_the_stun_parse_and_the_rest_does_not(
        monkeypatch: pytest.MonkeyPatch) -> None:
    sender, receiver = await connected_pair()
    try:
        assert install_dtls_demux(receiver) == len(host_protocols(receiver)) >= 1
        assert install_dtls_demux(receiver) == 0  # each socket once
        parsed: list[bytes] = []
        parse = aioice_ice.stun.parse_message

        def counting(data: bytes) -> Any:
            parsed.append(data)
            return parse(data)

        monkeypatch.setattr(aioice_ice.stun, "parse_message", counting)
        dtls_record, rtp_packet = bytes([23, 0xFE, 0xFD]) + b"d" * 40, bytes([0x80]) + b"r" * 40
        await sender.send(dtls_record)
        await sender.send(rtp_packet)
        async with asyncio.timeout(5):
            assert await receiver.recv() == dtls_record
            assert await receiver.recv() == rtp_packet
        assert dtls_record not in parsed and rtp_packet in parsed
    finally:
        await asyncio.gather(sender.close(), receiver.close())


async def empty_then_data(demux: bool) -> list[bytes]:
    """What the receiving connection's `recv` returns after an empty UDP datagram from
    a stranger and then one DTLS record from its peer."""
    sender, receiver = await connected_pair()
    try:
        if demux:
            install_dtls_demux(receiver)
        address = host_protocols(receiver)[0].transport.get_extra_info("sockname")
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as stranger:
            stranger.sendto(b"", address[:2])
        await asyncio.sleep(0.1)
        await sender.send(bytes([23]) + b"record")
        got: list[bytes] = []
        async with asyncio.timeout(5):
            while not got or got[-1] == b"":
                got.append(await receiver.recv())
        return got
    finally:
        await asyncio.gather(sender.close(), receiver.close())


async def test_an_empty_datagram_is_dropped() -> None:
    # aioice alone hands it on as data, and aiortc's DTLS transport, reading its first
    # byte, raises IndexError and closes the connection
    assert await empty_then_data(demux=False) == [b"", bytes([23]) + b"record"]
    assert await empty_then_data(demux=True) == [bytes([23]) + b"record"]


async def test_another_aioice_release_keeps_aioice_as_it_is(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(aioice, "__version__", "9.9.9")
    assert install_dtls_demux(Connection(ice_controlling=True)) == 0
    assert install_dtls_demux(None) == 0
