"""Tail-aware reassembly (`transfer_core.webrtc.sctp_reassembly`): it delivers exactly
what aiortc's own `InboundStream` delivers, in the same calls, whatever the arrival
order; it only skips the walks that cannot deliver anything."""

from __future__ import annotations

import random

from aiortc.rtcsctptransport import (
    SCTP_DATA_FIRST_FRAG,
    SCTP_DATA_LAST_FRAG,
    SCTP_DATA_UNORDERED,
    DataChunk,
    InboundStream,
    RTCSctpTransport,
)
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.unit.pins import source_digest
from transfer_core.webrtc.sctp_reassembly import (
    TailAwareInboundStream,
    install_tail_aware_reassembly,
)

# sha256 (first 16 hex digits) of the aiortc source this adapter copies or relies on
PINNED_SOURCES = {
    "InboundStream.add_chunk": "de934faf324b1b4b",
    "InboundStream.pop_messages": "bd29de9aa7c4f8fd",
    "RTCSctpTransport._get_inbound_stream": "7bb5d6a0225afa1c",
}


def test_aiortc_reassembly_is_unchanged() -> None:
    owners = {"InboundStream": InboundStream, "RTCSctpTransport": RTCSctpTransport}
    changed = [name for name, digest in PINNED_SOURCES.items()
               if source_digest(owners[name.split(".")[0]], name.split(".")[1]) != digest]
    assert not changed, f"aiortc changed {changed}: review sctp_reassembly.py against them"


def fragments(messages: list[tuple[int, bool]], first_tsn: int) -> list[DataChunk]:
    """DATA chunks for messages of (fragment count, ordered), consecutive TSNs."""
    chunks = []
    tsn, seq = first_tsn, 0
    for index, (count, ordered) in enumerate(messages):
        for i in range(count):
            chunk = DataChunk()
            chunk.flags = (0 if ordered else SCTP_DATA_UNORDERED)
            chunk.flags |= SCTP_DATA_FIRST_FRAG if i == 0 else 0
            chunk.flags |= SCTP_DATA_LAST_FRAG if i == count - 1 else 0
            chunk.tsn = tsn % 2**32
            chunk.stream_id = 1
            chunk.stream_seq = seq if ordered else 0
            chunk.protocol = 53
            chunk.user_data = bytes([index % 256, i % 256]) * 3
            chunks.append(chunk)
            tsn += 1
        if ordered:
            seq += 1
    return chunks


def replay(stream: InboundStream, arrivals: list[DataChunk]) -> list[list[tuple[int, int, bytes]]]:
    """What each `pop_messages` call delivers, one call per arrival (as aiortc does)."""
    delivered: list[list[tuple[int, int, bytes]]] = []
    for c in arrivals:
        stream.add_chunk(c)
        delivered.append(list(stream.pop_messages()))
    return delivered


@settings(max_examples=300, deadline=None)
@given(
    messages=st.lists(st.tuples(st.integers(1, 8), st.booleans()), min_size=1, max_size=12),
    seed=st.integers(0, 2**32 - 1),
    shuffle=st.sampled_from(["none", "swap", "full"]),
    first_tsn=st.sampled_from([1, 2**32 - 5]),  # and across the TSN wrap
)
def test_delivers_what_aiortc_delivers(
    messages: list[tuple[int, bool]], seed: int, shuffle: str, first_tsn: int
) -> None:
    arrivals = fragments(messages, first_tsn)
    rng = random.Random(seed)
    if shuffle == "full":
        rng.shuffle(arrivals)
    elif shuffle == "swap":
        for i in range(0, len(arrivals) - 1, 3):
            arrivals[i], arrivals[i + 1] = arrivals[i + 1], arrivals[i]
    ours, theirs = TailAwareInboundStream(), InboundStream()
    delivered = replay(ours, arrivals)
    assert delivered == replay(theirs, arrivals)
    assert [c.tsn for c in ours.reassembly] == [c.tsn for c in theirs.reassembly]
    assert ours.sequence_number == theirs.sequence_number
    assert sum(len(calls) for calls in delivered) == len(messages)  # every one, once


def test_in_order_fragments_deliver_once_on_the_last() -> None:
    stream = TailAwareInboundStream()
    calls = replay(stream, fragments([(56, True), (3, True)], 7))
    assert [len(c) for c in calls] == [0] * 55 + [1] + [0, 0, 1]
    assert calls[55][0][2] == b"".join(bytes([0, i]) * 3 for i in range(56))
    assert stream.reassembly == []


async def test_installed_on_a_transport_every_new_stream_is_tail_aware() -> None:
    # aiortc takes the running loop at construction (another test may have closed the default one)
    class Dtls:
        state = "connected"

    sctp = RTCSctpTransport(Dtls())  # type: ignore[arg-type]
    sctp._inbound_streams[3] = InboundStream()  # one that exists before
    assert install_tail_aware_reassembly(sctp)
    assert install_tail_aware_reassembly(sctp)  # idempotent
    assert type(sctp._inbound_streams[3]) is TailAwareInboundStream
    assert type(sctp._get_inbound_stream(5)) is TailAwareInboundStream
    assert install_tail_aware_reassembly(None) is False
