"""The delayed-SACK adapter over aiortc's SCTP receiver (`transfer_core.webrtc.sctp_ack`).

The policy runs on aiortc's real `RTCSctpTransport`: real DATA packets (aiortc's own
`serialize_packet`) go into its real receive path (`_handle_data`), and the SACKs it
sends are parsed back with aiortc's `parse_packet`. Only the DTLS transport under it
is a stand-in that records outgoing packets: it is the one way to see, packet by
packet, when a SACK leaves (a real DTLS transport would encrypt them). The same
policy between real peers, with packets dropped and reordered on purpose, is in
tests/integration/test_sctp_ack.py.

The pin tests fail loudly when aiortc changes: the adapter relies on private names
and on the shape of the methods below; re-read them before updating the hashes.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Callable
from typing import Any

import aiortc
import pytest
from aiortc.rtcsctptransport import (
    DataChunk,
    HeartbeatChunk,
    RTCSctpTransport,
    SackChunk,
    parse_packet,
    serialize_packet,
)

from tests.unit.pins import source_digest
from transfer_core.webrtc import sctp_ack
from transfer_core.webrtc.sctp_ack import (
    PINNED_AIORTC,
    AckPolicy,
    DelayedAck,
    delayed_ack_of,
    install_delayed_ack,
)

FIRST_TSN = 1000
WEBRTC_BINARY = 53


def sack_every(every: int = 2, max_delay: float = 0.5, **rules: float) -> AckPolicy:
    """A policy that delays by `every` alone unless `rules` turn the quick-ack rules on
    (`after_loss`, `idle_ack`, `every_small`, `start_bytes`), so each test sees one rule
    at a time."""
    fields = {"after_loss": 0, "idle_ack": False, "every_small": every, "small_after": 0,
              "start_bytes": 0, **rules}
    return AckPolicy(every=every, max_delay=max_delay, **fields)  # type: ignore[arg-type]

# --- the pin ---------------------------------------------------------------------------

# sha256 (first 16 hex digits) of `inspect.getsource` of each aiortc method the
# adapter depends on, as reviewed for aiortc 1.16.0. `_handle_data` calls `self._send_sack()` while
# `_sack_needed` is set; `_send_sack` builds the SACK from `_last_received_tsn`,
# `_sack_misordered`, `_sack_duplicates` and clears `_sack_needed`; `_mark_received` and
# the two receive methods maintain those fields.
PINNED_SOURCES = {
    "_handle_data": "8661b724e20776bb",
    "_send_sack": "ac92513522fa60e7",
    "_mark_received": "2ac68b6a3934ca87",
    "_receive_data_chunk": "790c2bb8cd0f5dd7",
    "_receive_forward_tsn_chunk": "a7b72a09e9c4bb20",
}


def _source_hash(name: str) -> str:
    return source_digest(RTCSctpTransport, name)


def test_aiortc_is_the_pinned_release() -> None:
    assert aiortc.__version__ == PINNED_AIORTC, (
        f"aiortc {aiortc.__version__} is installed but the delayed-SACK adapter was checked"
        f" against {PINNED_AIORTC}: review transfer_core/webrtc/sctp_ack.py against the new"
        " RTCSctpTransport, then update PINNED_AIORTC and PINNED_SOURCES"
    )
    assert sctp_ack.supported()


@pytest.mark.parametrize("name", sorted(PINNED_SOURCES))
def test_aiortc_methods_the_adapter_relies_on_are_unchanged(name: str) -> None:
    assert _source_hash(name) == PINNED_SOURCES[name], (
        f"aiortc's RTCSctpTransport.{name} changed: review sctp_ack.py against it"
    )


def test_aiortc_receive_path_calls_send_sack_through_the_instance() -> None:
    # what the adapter hooks: the one call site, looked up on the instance
    source = inspect.getsource(RTCSctpTransport._handle_data)
    assert "if self._sack_needed:\n            await self._send_sack()" in source
    module = inspect.getmodule(RTCSctpTransport)
    assert module is not None
    module_source = inspect.getsource(module)
    assert module_source.count("self._send_sack()") == 1


PINNED_AIOICE = "0.13.0"


def test_aioice_internals_the_idle_probe_reads_are_there() -> None:
    # `datagram_waiting` reads RTCIceTransport._connection, aioice's Connection._queue
    # and ._nominated, CandidatePair.protocol and StunProtocol.transport; if one goes,
    # it answers None (SACK/2 as before) and this test says so
    import aioice
    from aioice.ice import CandidatePair, Connection, StunProtocol
    from aiortc.rtcicetransport import RTCIceTransport

    assert aioice.__version__ == PINNED_AIOICE, (
        f"aioice {aioice.__version__} is not {PINNED_AIOICE}: review"
        " sctp_ack.datagram_waiting against it, then update PINNED_AIOICE"
    )
    assert "self._connection = gatherer._connection" in inspect.getsource(RTCIceTransport.__init__)
    init = inspect.getsource(Connection.__init__)
    assert "self._nominated: dict[int, CandidatePair] = {}" in init
    assert "self._queue: asyncio.Queue" in init
    assert "self._queue.put_nowait((data, component))" in inspect.getsource(
        Connection.data_received)
    assert "self.protocol = protocol" in inspect.getsource(CandidatePair.__init__)
    assert "self.transport = " in inspect.getsource(StunProtocol.connection_made)


# --- a real RTCSctpTransport on a recording DTLS stand-in ----------------------------


class RecordingDtls:
    """Stands in for `RTCDtlsTransport` below the SCTP transport: records each packet
    aiortc sends (a real one would encrypt it; here the test reads the SACKs)."""

    state = "connected"

    def __init__(self) -> None:
        self.sent: list[bytes] = []

    async def _send_data(self, data: bytes) -> None:
        self.sent.append(data)

    def sacks(self) -> list[SackChunk]:
        found: list[SackChunk] = []
        for packet in self.sent:
            _, _, _, chunks = parse_packet(packet)
            found.extend(c for c in chunks if isinstance(c, SackChunk))
        return found


def established(policy: AckPolicy | None) -> tuple[RTCSctpTransport, RecordingDtls]:
    """An SCTP transport in ESTABLISHED state, expecting DATA from `FIRST_TSN`."""
    dtls = RecordingDtls()
    sctp = RTCSctpTransport(dtls)  # type: ignore[arg-type]
    sctp._remote_port = 5000
    sctp._last_received_tsn = FIRST_TSN - 1
    sctp._set_state(RTCSctpTransport.State.ESTABLISHED)
    if policy is not None:
        assert install_delayed_ack(sctp, policy) is not None
    return sctp, dtls


async def receive(sctp: RTCSctpTransport, *tsns: int) -> None:
    """One packet per TSN, each carrying one whole message on stream 1."""
    for tsn in tsns:
        chunk = DataChunk(flags=0x03)  # first and last fragment
        chunk.tsn = tsn
        chunk.stream_id = 1
        chunk.stream_seq = tsn - FIRST_TSN
        chunk.protocol = WEBRTC_BINARY
        chunk.user_data = b"x" * 1000
        await sctp._handle_data(
            serialize_packet(5000, 5000, sctp._local_verification_tag, chunk)
        )


def cumulative(dtls: RecordingDtls) -> list[int]:
    return [s.cumulative_tsn for s in dtls.sacks()]


async def test_aiortc_alone_acknowledges_every_packet() -> None:
    sctp, dtls = established(None)
    await receive(sctp, *range(FIRST_TSN, FIRST_TSN + 6))
    assert cumulative(dtls) == list(range(FIRST_TSN, FIRST_TSN + 6))


async def test_in_order_data_is_acknowledged_every_second_packet() -> None:
    sctp, dtls = established(sack_every(2, 0.5))
    await receive(sctp, *range(FIRST_TSN, FIRST_TSN + 7))
    # the first DATA at once, then every second one
    assert cumulative(dtls) == [FIRST_TSN, FIRST_TSN + 2, FIRST_TSN + 4, FIRST_TSN + 6]
    assert all(s.gaps == [] and s.duplicates == [] for s in dtls.sacks())
    ack = delayed_ack_of(sctp)
    assert ack is not None and ack.sacks_sent == 4 and ack.sacks_delayed == 3


@pytest.mark.parametrize("every", [3, 4])
async def test_every_nth_packet(every: int) -> None:
    sctp, dtls = established(sack_every(every, 0.5))
    await receive(sctp, *range(FIRST_TSN, FIRST_TSN + 1 + 3 * every))
    assert cumulative(dtls) == [FIRST_TSN + k * every for k in range(4)]


async def test_a_gap_is_reported_at_once_and_so_is_the_packet_closing_it() -> None:
    sctp, dtls = established(sack_every(2, 0.5))
    await receive(sctp, FIRST_TSN)  # acked at once (first)
    await receive(sctp, FIRST_TSN + 2)  # gap: FIRST_TSN + 1 missing
    await receive(sctp, FIRST_TSN + 3)  # gap still open
    await receive(sctp, FIRST_TSN + 1)  # closes the gap
    await receive(sctp, FIRST_TSN + 4)  # in order again: may wait
    sacks = dtls.sacks()
    assert [s.cumulative_tsn for s in sacks] == [FIRST_TSN, FIRST_TSN, FIRST_TSN, FIRST_TSN + 3]
    assert sacks[1].gaps == [(2, 2)] and sacks[2].gaps == [(2, 3)]
    assert sacks[3].gaps == []


async def test_a_duplicate_is_reported_at_once() -> None:
    sctp, dtls = established(sack_every(2, 0.5))
    await receive(sctp, FIRST_TSN, FIRST_TSN + 1)
    before = len(dtls.sacks())
    await receive(sctp, FIRST_TSN + 1)
    sacks = dtls.sacks()
    assert len(sacks) == before + 1
    assert sacks[-1].duplicates == [FIRST_TSN + 1]


async def test_a_lone_packet_is_acknowledged_by_the_timer() -> None:
    sctp, dtls = established(sack_every(2, 0.05))
    await receive(sctp, FIRST_TSN, FIRST_TSN + 1, FIRST_TSN + 2)
    assert cumulative(dtls) == [FIRST_TSN, FIRST_TSN + 2]
    await receive(sctp, FIRST_TSN + 3)
    assert cumulative(dtls)[-1] == FIRST_TSN + 2  # waiting
    await asyncio.sleep(1.0)  # generous: the machine may be loaded
    assert cumulative(dtls)[-1] == FIRST_TSN + 3
    assert not sctp._sack_needed


async def test_a_packet_without_data_neither_counts_nor_sends() -> None:
    sctp, dtls = established(sack_every(2, 0.5))
    await receive(sctp, FIRST_TSN, FIRST_TSN + 1)  # FIRST_TSN + 1 waits
    sent = len(dtls.sacks())
    heartbeat = HeartbeatChunk()
    heartbeat.params = [(1, b"probe")]
    await sctp._handle_data(
        serialize_packet(5000, 5000, sctp._local_verification_tag, heartbeat)
    )
    assert len(dtls.sacks()) == sent  # the heartbeat is answered, not acked
    assert len(dtls.sent) == sent + 1  # its HEARTBEAT ACK
    await receive(sctp, FIRST_TSN + 2)
    assert cumulative(dtls) == [FIRST_TSN, FIRST_TSN + 2]


async def test_shutdown_is_acknowledged_at_once() -> None:
    sctp, dtls = established(sack_every(4, 0.5))
    await receive(sctp, FIRST_TSN)
    sctp._set_state(RTCSctpTransport.State.SHUTDOWN_PENDING)
    await receive(sctp, FIRST_TSN + 1)
    assert cumulative(dtls) == [FIRST_TSN, FIRST_TSN + 1]


async def test_the_timer_after_close_sends_nothing() -> None:
    sctp, dtls = established(sack_every(2, 0.05))
    await receive(sctp, FIRST_TSN, FIRST_TSN + 1, FIRST_TSN + 2)
    sent = len(dtls.sent)
    sctp._set_state(RTCSctpTransport.State.CLOSED)
    await asyncio.sleep(0.5)
    assert len(dtls.sent) == sent


# --- when every packet is acknowledged (after a loss; when no datagram waits) ----------


async def test_after_a_loss_the_next_packets_are_acknowledged_one_by_one() -> None:
    sctp, dtls = established(sack_every(2, after_loss=3))
    await receive(sctp, FIRST_TSN)  # acked at once (first)
    await receive(sctp, FIRST_TSN + 2)  # gap
    await receive(sctp, FIRST_TSN + 1)  # closes it: at once
    await receive(sctp, *range(FIRST_TSN + 3, FIRST_TSN + 10))
    # three packets one by one after the gap closed, then every second one again
    assert cumulative(dtls) == [FIRST_TSN, FIRST_TSN, FIRST_TSN + 2, FIRST_TSN + 3,
                                FIRST_TSN + 4, FIRST_TSN + 5, FIRST_TSN + 7, FIRST_TSN + 9]
    ack = delayed_ack_of(sctp)
    assert ack is not None and ack.sacks_after_loss == 3 and ack.sacks_idle == 0


async def test_a_duplicate_also_counts_as_a_loss() -> None:
    sctp, dtls = established(sack_every(2, after_loss=2))
    await receive(sctp, FIRST_TSN, FIRST_TSN + 1, FIRST_TSN + 1)  # the duplicate: at once
    await receive(sctp, *range(FIRST_TSN + 2, FIRST_TSN + 6))
    assert cumulative(dtls) == [FIRST_TSN, FIRST_TSN + 1, FIRST_TSN + 2, FIRST_TSN + 3,
                                FIRST_TSN + 5]


class Waiting:
    """Stands in for `DelayedAck.waiting` (the size of the next datagram waiting in the
    socket, 0 if none: the recording DTLS stand-in has none); the test says what the
    socket holds. True stands for "one waits", whatever its size."""

    def __init__(self, *answers: int | None) -> None:
        self.answers = list(answers)
        self.asked = 0

    def __call__(self) -> int | None:
        self.asked += 1
        return self.answers.pop(0)


async def test_a_packet_is_held_only_while_another_datagram_waits() -> None:
    sctp, dtls = established(sack_every(2, idle_ack=True, behind_recheck=0))
    ack = delayed_ack_of(sctp)
    assert ack is not None
    await receive(sctp, FIRST_TSN)  # the first: at once, nothing asked
    ack.waiting = Waiting(True, False, True, None)
    await receive(sctp, FIRST_TSN + 1)  # another waits: held...
    await receive(sctp, FIRST_TSN + 2)  # ...and acked with this one (every second)
    await receive(sctp, FIRST_TSN + 3)  # nothing waits: at once
    await receive(sctp, FIRST_TSN + 4)  # another waits: held
    await receive(sctp, FIRST_TSN + 5)  # every second: at once (not asked)
    await receive(sctp, FIRST_TSN + 6)  # cannot tell (say, a TURN relay): SACK/2, held
    assert cumulative(dtls) == [FIRST_TSN, FIRST_TSN + 2, FIRST_TSN + 3, FIRST_TSN + 5]
    assert ack.sacks_idle == 1 and ack.sacks_delayed == 3 and ack.sacks_unknown == 1


async def test_a_receiver_seen_behind_is_not_asked_again_at_once() -> None:
    # behind_recheck of a minute: after one "waiting", held decisions do not ask
    sctp, dtls = established(sack_every(2, idle_ack=True, behind_recheck=60))
    ack = delayed_ack_of(sctp)
    assert ack is not None
    await receive(sctp, FIRST_TSN)
    ack.waiting = waiting = Waiting(True)
    await receive(sctp, *range(FIRST_TSN + 1, FIRST_TSN + 9))
    assert waiting.asked == 1
    assert cumulative(dtls) == [FIRST_TSN, FIRST_TSN + 2, FIRST_TSN + 4, FIRST_TSN + 6,
                                FIRST_TSN + 8]


@pytest.fixture
def frozen_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    """Time stands still for the policy (`Clock` below): packets are back to back however
    slowly a loaded machine runs the test, so no pause counts as catching up."""
    monkeypatch.setattr(sctp_ack, "time", Clock())


CHROMIUM_DATAGRAM = 1_224  # dcsctp's ~1,191-byte packet in a DTLS record
LOOPBACK_DATAGRAM = 16_037  # sctp_pmtu's 16,000-byte packets between two CLIs


async def acked_behind(waiting: Callable[[], int | None], packets: int, every: int = 2,
                       **rules: float) -> tuple[list[int], DelayedAck]:
    """The cumulative TSNs of the SACKs for `FIRST_TSN` (acknowledged at once) and then
    `packets` more, with the socket holding what `waiting` says each time it is asked;
    `every_small` 3 unless `rules` say otherwise."""
    sctp, dtls = established(sack_every(every, idle_ack=True, behind_recheck=0,
                                        **{"every_small": 3, **rules}))
    ack = delayed_ack_of(sctp)
    assert ack is not None
    await receive(sctp, FIRST_TSN)
    ack.waiting = waiting
    await receive(sctp, *range(FIRST_TSN + 1, FIRST_TSN + 1 + packets))
    return cumulative(dtls), ack


@pytest.mark.usefixtures("frozen_clock")
async def test_behind_on_small_datagrams_every_third_packet_is_acknowledged() -> None:
    acked, _ = await acked_behind(lambda: CHROMIUM_DATAGRAM, 6)
    assert acked == [FIRST_TSN, FIRST_TSN + 3, FIRST_TSN + 6]


@pytest.mark.usefixtures("frozen_clock")
async def test_behind_on_large_datagrams_every_second_packet_is_acknowledged() -> None:
    acked, _ = await acked_behind(lambda: LOOPBACK_DATAGRAM, 6)
    assert acked == [FIRST_TSN, FIRST_TSN + 2, FIRST_TSN + 4, FIRST_TSN + 6]


async def test_a_receiver_behind_for_less_than_small_after_keeps_every_second() -> None:
    # a window's burst over a long path: behind, but not for `small_after` (a minute
    # here), so the sender's clock keeps a SACK per two packets
    acked, _ = await acked_behind(lambda: CHROMIUM_DATAGRAM, 6, small_after=60)
    assert acked == [FIRST_TSN, FIRST_TSN + 2, FIRST_TSN + 4, FIRST_TSN + 6]


class Clock:
    """Stands in for `time` in sctp_ack (only `monotonic`): the test moves it, as a
    receiver behind for 50 ms cannot be timed exactly in a unit test."""

    STEP = 2.0**-10  # about 1 ms between packets: back to back (exact in binary)

    def __init__(self) -> None:
        self.now = 100.0

    def monotonic(self) -> float:
        return self.now


async def behind(sctp: RTCSctpTransport, clock: Clock, first: int, last: int) -> None:
    """TSNs `first`..`last`, one packet a step apart (the receiver is behind)."""
    for tsn in range(first, last + 1):
        clock.now += Clock.STEP
        await receive(sctp, tsn)


# behind from +1: every second packet up to +48, every third from +49 (48 steps later)
BEHIND_FOR_60 = [FIRST_TSN, *range(FIRST_TSN + 2, FIRST_TSN + 49, 2), FIRST_TSN + 51,
                 FIRST_TSN + 54, FIRST_TSN + 57, FIRST_TSN + 60]


async def behind_for_60(monkeypatch: pytest.MonkeyPatch
                        ) -> tuple[RTCSctpTransport, RecordingDtls, Clock]:
    """The default rules for small datagrams, with `small_after` 48 steps: the first
    packet acknowledged at once, then 60 back to back with a small datagram always
    waiting (`BEHIND_FOR_60` acknowledged)."""
    clock = Clock()
    monkeypatch.setattr(sctp_ack, "time", clock)
    sctp, dtls = established(sack_every(2, idle_ack=True, every_small=3,
                                        small_after=48 * Clock.STEP, behind_recheck=0))
    ack = delayed_ack_of(sctp)
    assert ack is not None
    ack.waiting = lambda: CHROMIUM_DATAGRAM
    await receive(sctp, FIRST_TSN)
    await behind(sctp, clock, FIRST_TSN + 1, FIRST_TSN + 60)
    return sctp, dtls, clock


async def test_every_third_packet_only_after_small_after_behind(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _, dtls, _ = await behind_for_60(monkeypatch)
    assert cumulative(dtls) == BEHIND_FOR_60


async def test_a_loss_gives_the_sender_every_second_packet_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sctp, dtls, clock = await behind_for_60(monkeypatch)
    await behind(sctp, clock, FIRST_TSN + 62, FIRST_TSN + 62)  # gap (+61): at once
    await behind(sctp, clock, FIRST_TSN + 61, FIRST_TSN + 61)  # closes it: at once
    await behind(sctp, clock, FIRST_TSN + 63, FIRST_TSN + 66)  # every second again
    assert cumulative(dtls) == [*BEHIND_FOR_60, FIRST_TSN + 60, FIRST_TSN + 62,
                                FIRST_TSN + 64, FIRST_TSN + 66]


async def test_a_pause_between_packets_counts_as_caught_up(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # bursts over a long path: the socket is never found empty (a burst's last packet
    # may be due, so nobody asks), but the receiver waited for the next burst
    sctp, dtls, clock = await behind_for_60(monkeypatch)
    clock.now += sctp_ack.CAUGHT_UP_GAP  # a pause, then the next burst
    await behind(sctp, clock, FIRST_TSN + 61, FIRST_TSN + 64)
    assert cumulative(dtls) == [*BEHIND_FOR_60, FIRST_TSN + 62, FIRST_TSN + 64]


# --- the start: the sender's slow start gets a SACK per packet ------------------------


async def start_burst(monkeypatch: pytest.MonkeyPatch, start_bytes: int, packets: int,
                      waiting: int = CHROMIUM_DATAGRAM,
                      ) -> tuple[RTCSctpTransport, RecordingDtls, Clock, DelayedAck]:
    """The default rules with `start_bytes` and `small_after` 48 steps: the first packet,
    then `packets` back to back with a `waiting`-byte datagram always waiting (a
    window's burst)."""
    clock = Clock()
    monkeypatch.setattr(sctp_ack, "time", clock)
    sctp, dtls = established(sack_every(2, idle_ack=True, every_small=3,
                                        start_bytes=start_bytes,
                                        small_after=48 * Clock.STEP, behind_recheck=0))
    ack = delayed_ack_of(sctp)
    assert ack is not None
    ack.waiting = lambda: waiting
    await receive(sctp, FIRST_TSN)
    await behind(sctp, clock, FIRST_TSN + 1, FIRST_TSN + packets)
    return sctp, dtls, clock, ack


async def test_at_the_start_each_packet_of_a_burst_is_acknowledged(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # over a long path slow start sends bursts that wait in the receiver's socket; a
    # SACK per packet lets the sender's window double each round trip (it grows by
    # one packet per SACK), where every second packet would grow it by half
    _, dtls, _, ack = await start_burst(monkeypatch, start_bytes=1 << 20, packets=6)
    assert cumulative(dtls) == list(range(FIRST_TSN, FIRST_TSN + 7))
    assert ack.sacks_at_start == 6


@pytest.mark.parametrize("datagram", [CHROMIUM_DATAGRAM, LOOPBACK_DATAGRAM])
async def test_the_start_ends_after_start_bytes(monkeypatch: pytest.MonkeyPatch,
                                                datagram: int) -> None:
    # a budget in bytes: four packets' worth at either size (a sender that limits a
    # loopback transfer never lets the receiver fall behind, and its 16,000-byte
    # packets must not buy it a SACK per packet for half the transfer)
    _, dtls, _, ack = await start_burst(monkeypatch, start_bytes=4 * datagram, packets=10,
                                        waiting=datagram)
    # +1..+4 at once (the budget), then every second packet again
    assert cumulative(dtls) == [*range(FIRST_TSN, FIRST_TSN + 5), FIRST_TSN + 6,
                                FIRST_TSN + 8, FIRST_TSN + 10]
    assert ack.sacks_at_start == 4


async def test_the_start_ends_for_good_once_the_receiver_falls_behind(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # a CPU-bound receiver (behind for `small_after`) is what limits the transfer: the
    # start's SACKs end there, and do not come back when it catches up
    sctp, dtls, clock, ack = await start_burst(monkeypatch, start_bytes=1 << 20, packets=60)
    assert cumulative(dtls) == [*range(FIRST_TSN, FIRST_TSN + 49), FIRST_TSN + 51,
                                FIRST_TSN + 54, FIRST_TSN + 57, FIRST_TSN + 60]
    assert ack.sacks_at_start == 48
    clock.now += sctp_ack.CAUGHT_UP_GAP  # caught up; the next burst
    await behind(sctp, clock, FIRST_TSN + 61, FIRST_TSN + 64)
    assert cumulative(dtls)[-2:] == [FIRST_TSN + 62, FIRST_TSN + 64]
    assert ack.sacks_at_start == 48


async def test_without_idle_ack_there_is_no_start(monkeypatch: pytest.MonkeyPatch) -> None:
    sctp, dtls = established(sack_every(2, start_bytes=1 << 20))
    await receive(sctp, *range(FIRST_TSN, FIRST_TSN + 7))
    assert cumulative(dtls) == [FIRST_TSN, FIRST_TSN + 2, FIRST_TSN + 4, FIRST_TSN + 6]


@pytest.mark.usefixtures("frozen_clock")
async def test_small_datagrams_change_nothing_once_the_receiver_caught_up() -> None:
    # behind on small datagrams (every third), then nothing waits: acknowledged at once,
    # and the next time it is behind on large ones it is every second packet again
    waiting = Waiting(CHROMIUM_DATAGRAM, CHROMIUM_DATAGRAM, 0, LOOPBACK_DATAGRAM)
    acked, ack = await acked_behind(waiting, 5)
    # +1, +2 held (small, behind); +3 is the third: due; +4 nothing waits: at once;
    # +5 behind on a large datagram: held (every second counts from +4)
    assert acked == [FIRST_TSN, FIRST_TSN + 3, FIRST_TSN + 4]
    assert ack.sacks_idle == 1


@pytest.mark.usefixtures("frozen_clock")
async def test_every_small_is_never_fewer_than_every() -> None:
    acked, _ = await acked_behind(lambda: CHROMIUM_DATAGRAM, 4, every=4, every_small=2)
    assert acked == [FIRST_TSN, FIRST_TSN + 4]


async def test_with_idle_ack_off_the_socket_is_not_asked() -> None:
    sctp, dtls = established(sack_every(2, idle_ack=False))
    ack = delayed_ack_of(sctp)
    assert ack is not None
    ack.waiting = waiting = Waiting()
    await receive(sctp, *range(FIRST_TSN, FIRST_TSN + 5))
    assert cumulative(dtls) == [FIRST_TSN, FIRST_TSN + 2, FIRST_TSN + 4]
    assert waiting.asked == 0


async def test_datagram_waiting_cannot_tell_without_an_ice_connection() -> None:
    sctp, _ = established(None)  # on the recording stand-in: no ICE, no socket
    assert sctp_ack.datagram_waiting(sctp) is None


async def test_datagram_waiting_reads_the_size_of_the_next_datagram() -> None:
    # aioice's real Connection and StunProtocol on a real UDP socket, paused so the
    # datagrams stay in the kernel's buffer; only aiortc's two transports above the
    # ICE connection are stand-ins (the probe reads nothing else of them)
    from types import SimpleNamespace

    from aioice.candidate import Candidate
    from aioice.ice import CandidatePair, Connection, StunProtocol

    loop = asyncio.get_running_loop()
    connection = Connection(ice_controlling=True)
    transport, protocol = await loop.create_datagram_endpoint(
        lambda: StunProtocol(connection), local_addr=("127.0.0.1", 0))
    peer, _ = await loop.create_datagram_endpoint(asyncio.DatagramProtocol,
                                                  remote_addr=transport.get_extra_info("sockname"))
    try:
        sctp: Any = SimpleNamespace(transport=SimpleNamespace(
            transport=SimpleNamespace(_connection=connection)))
        assert sctp_ack.datagram_waiting(sctp) is None  # no nominated pair yet
        remote = Candidate(foundation="1", component=1, transport="udp", priority=1,
                           host="127.0.0.1", port=9, type="host")
        connection._nominated[1] = CandidatePair(protocol, remote)
        transport.pause_reading()  # type: ignore[attr-defined]  # typeshed's ABC lacks it
        assert sctp_ack.datagram_waiting(sctp) == 0
        peer.sendto(b"d" * 1_224)
        peer.sendto(b"d" * 16_037)
        for _ in range(100):  # loopback delivers at once; allow the kernel a moment
            if sctp_ack.datagram_waiting(sctp):
                break
            await asyncio.sleep(0.01)
        assert sctp_ack.datagram_waiting(sctp) == 1_224  # the first, not the sum
        connection._queue.put_nowait((b"q" * 700, 1))  # aioice's own queue comes first
        assert sctp_ack.datagram_waiting(sctp) == 700
        connection._queue.get_nowait()
        # what a changed aioice might queue (hence not the declared item type)
        connection._queue.put_nowait("an item of another shape")  # type: ignore[arg-type]
        assert sctp_ack.datagram_waiting(sctp) == sctp_ack.LARGEST_DATAGRAM
    finally:
        peer.close()
        transport.close()


def test_the_default_policy_turns_both_rules_on() -> None:
    policy = sctp_ack.DEFAULT_ACK_POLICY
    assert policy.every == 2 and policy.max_delay == 0.2
    assert policy.after_loss > 0 and policy.idle_ack
    assert policy.every_small == 3 and policy.small_datagram == 1500
    assert policy.small_after == 0.05 and policy.start_bytes == 1 << 20


@pytest.mark.parametrize(("spec", "expected"), [
    ("2:0.2:64:1:3:0", AckPolicy(every=2, max_delay=0.2, after_loss=64, every_small=3,
                                 start_bytes=0)),
    ("2:0.2:0:0", AckPolicy(every=2, max_delay=0.2, after_loss=0, idle_ack=False)),
    ("1:0.2", AckPolicy(every=1, max_delay=0.2)),
    ("2:0.1:16", AckPolicy(every=2, max_delay=0.1, after_loss=16)),
    ("2:0.2:64:1:2", AckPolicy(every=2, max_delay=0.2, after_loss=64, every_small=2)),
])
def test_policy_from_a_spec(spec: str, expected: AckPolicy) -> None:
    assert AckPolicy.parse(spec) == expected


@pytest.mark.parametrize("spec", ["2", "2:0.2:1:1:3:4:5", "2:0.2:1:1:0", "x:0.2", "2:0.9",
                                  "2:0.2:1:2", "2:0.2:1:1:3:-1"])
def test_a_bad_spec_is_refused(spec: str) -> None:
    with pytest.raises(ValueError):
        AckPolicy.parse(spec)


# --- installing ----------------------------------------------------------------------


async def test_install_is_idempotent_and_every_one_installs_nothing() -> None:
    sctp, _ = established(None)
    assert install_delayed_ack(sctp, AckPolicy(every=1)) is None
    assert delayed_ack_of(sctp) is None
    first = install_delayed_ack(sctp)
    assert isinstance(first, DelayedAck) and first.policy == sctp_ack.DEFAULT_ACK_POLICY
    assert install_delayed_ack(sctp, AckPolicy(every=3)) is first
    assert install_delayed_ack(None) is None


async def test_another_aiortc_release_keeps_aiortc_as_it_is(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    sctp, dtls = established(None)
    monkeypatch.setattr(aiortc, "__version__", "9.9.9")
    with caplog.at_level(logging.WARNING, logger="transfer_core.webrtc.sctp_ack"):
        assert install_delayed_ack(sctp) is None
    assert "aiortc 9.9.9 is not 1.16.0: delayed SACK disabled" in caplog.text
    await receive(sctp, FIRST_TSN, FIRST_TSN + 1)
    assert cumulative(dtls) == [FIRST_TSN, FIRST_TSN + 1]


@pytest.mark.parametrize("kwargs", [
    {"every": 0}, {"max_delay": 0.0}, {"max_delay": 0.6}, {"after_loss": -1},
    {"behind_recheck": -0.1}, {"every_small": 0}, {"small_datagram": -1},
    {"small_after": -1.0}, {"start_bytes": -1},
])
def test_policy_bounds(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        AckPolicy(**kwargs)  # type: ignore[arg-type]
