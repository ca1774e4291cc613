"""The common packet the short way: a small adapter over aiortc's SCTP receive path.

A CLI receiving from a browser takes each of Chromium's ~1,200-byte SCTP packets
through aiortc's general Python, and on a 2-core machine that per-packet cost is what
bounds page -> CLI (docs/benchmarks.md). Almost every one of those packets is the same
case: a single DATA chunk, the next TSN in order. For that case aiortc 1.16

- tries each datagram as a STUN message first (aioice `StunProtocol.datagram_received`
  parses it and catches the `ValueError` a DTLS record raises);
- parses the packet into a list of chunks, scans that list for an INIT, and hands each
  chunk through a debug log and a chain of `isinstance` tests;
- marks the TSN received by adding it to the set of out-of-order TSNs, sorting that
  set and filtering two collections, where the cumulative TSN just moves up by one.

`install_lean_receive` (on an association) and `install_dtls_demux` (on an ICE
connection) take the short way for that case only:

- a datagram whose first byte says DTLS (20-63, RFC 7983 §7) goes to the connection
  as data without the STUN parse; everything else is aioice's own path, but for an
  empty datagram, which is dropped: aioice hands it on as data, and aiortc's DTLS
  transport reads its first byte, fails, and closes the connection;
- a packet that is exactly one DATA chunk, with a good checksum and this
  association's verification tag, goes straight to aiortc's `_receive_data_chunk`
  (what `_receive_chunk` does with a DATA chunk), and then to `_send_sack` as
  `_handle_data` does; anything else (several chunks, a control chunk, a bad checksum
  or tag) takes aiortc's `_handle_data` as it is;
- a TSN that is the next in order while nothing is out of order moves the cumulative
  TSN.

After a loss the uncommon case is every packet until the retransmission arrives, and
aiortc's cost for it grows with what it holds (`sctp_gaps`). So every other TSN is
marked against runs of positions after the cumulative TSN kept beside aiortc's set of
held TSNs, and the SACK's gap blocks are read from the runs (`_HeldTsns`): O(1) for a
packet that extends the newest run and per run for a SACK, where aiortc sorts and
filters the set per packet and walks it per SACK.

What is delivered, acknowledged and dropped is unchanged: tests/unit/test_sctp_receive.py
feeds the same packets (in order, reordered, duplicated, corrupted, bundled, lost and
sent again in any order) to an adapted and a plain association and compares what each
delivered and acknowledged, byte for byte. Across TSN 2**32 it does not compare: there
aiortc's sort of the raw integers stops its cumulative TSN for good, where the runs
follow serial number order (the wrap tests check each SACK against what arrived). A
DATA chunk taken the short way does not pass `_receive_chunk`: an adapter that wraps
`_receive_chunk` sees every other chunk (`sctp_pmtu` wraps it for HEARTBEAT ACKs).
Installs only on the pinned aiortc and aioice releases; the tests pin the sources
it copies or relies on.
"""

from __future__ import annotations

import struct
from collections.abc import Awaitable, Callable
from typing import Any

import aioice
from aioice.ice import Connection, StunProtocol
from aiortc.rtcsctptransport import DataChunk, RTCSctpTransport, SackChunk, crc32c
from aiortc.utils import uint32_gt, uint32_gte

from .ice_pacing import PINNED_AIOICE
from .sctp_ack import delayed_ack_of, supported
from .sctp_gaps import TSN_MODULO, IndexRuns, tsns_of

_COMMON_HEADER = 12
_DATA_HEADER = 16
_DATA_CHUNK = 0
_HEADER = struct.Struct("!HHLLBBHLHHL")
"""Common header (ports, tag, checksum read big-endian and ignored) and a DATA chunk's
header (type, flags, length, TSN, stream, stream sequence, payload protocol)."""
_CHECKSUM = struct.Struct("<L")
_ZERO_CHECKSUM = b"\x00\x00\x00\x00"
_MARK = "_sgraph_send_lean_receive"
_DEMUX = "_sgraph_send_dtls_demux"


def _single_data_chunk(data: bytes, tag: int) -> DataChunk | None:
    """`data`'s DATA chunk when the packet is that chunk alone (padding allowed),
    checksummed and addressed to `tag`; None for anything else."""
    size = len(data)
    if size < _COMMON_HEADER + _DATA_HEADER or data[_COMMON_HEADER] != _DATA_CHUNK:
        return None
    _, _, packet_tag, _, _, flags, length, tsn, stream_id, stream_seq, protocol = (
        _HEADER.unpack_from(data))
    end = _COMMON_HEADER + length
    if (
        packet_tag != tag
        or length < _DATA_HEADER
        or not end <= size < end + 4
        or size % 4
        or _CHECKSUM.unpack_from(data, 8)[0]
        != crc32c(data[:8] + _ZERO_CHECKSUM + data[_COMMON_HEADER:])
    ):
        return None
    chunk = DataChunk(flags)
    chunk.tsn, chunk.stream_id, chunk.stream_seq, chunk.protocol = (
        tsn, stream_id, stream_seq, protocol)
    chunk.user_data = data[_COMMON_HEADER + _DATA_HEADER:end]
    return chunk


def _forget_reported(sctp: RTCSctpTransport, cumulative: int) -> None:
    """Drop the duplicates at or below the cumulative TSN from the next SACK, as aiortc's
    `_mark_received` does once a new TSN arrives (its SACK policy reported them at once)."""
    sctp._sack_duplicates = [x for x in sctp._sack_duplicates if uint32_gt(x, cumulative)]


class _HeldTsns:
    """The TSNs `sctp` holds beyond a gap, beside aiortc's own set, as `IndexRuns` of
    positions after the cumulative TSN (0: the TSN it waits for, as a sender's queue
    counts from its first chunk not yet acknowledged).

    aiortc's set stays the record others read (the SACK policy asks whether it is
    empty, aiortc's FORWARD TSN handler filters it); the runs follow it. Only this
    adapter and that handler change the set while it holds anything, and the handler
    puts a new set in its place, so a set that is another object or of another size
    than the runs were last kept for is read into new runs.
    """

    __slots__ = ("_sctp", "_runs", "_base", "_of", "_count")

    def __init__(self, sctp: RTCSctpTransport) -> None:
        self._sctp = sctp
        self._runs = IndexRuns()
        self._base: int | None = None
        """The cumulative TSN the positions count from; None: read the set anew."""
        self._of: set[int] = sctp._sack_misordered
        self._count = len(self._of)

    def runs(self, cumulative: int) -> IndexRuns:
        """The held TSNs as positions after `cumulative`, the cumulative TSN."""
        held = self._sctp._sack_misordered
        if self._base is None or held is not self._of or len(held) != self._count:
            self._runs = IndexRuns.of(sorted((t - cumulative - 1) % TSN_MODULO for t in held))
            self._of, self._count = held, len(held)
        elif cumulative != self._base:  # moved the short way, nothing held
            self._runs.shift((cumulative - self._base) % TSN_MODULO)
        self._base = cumulative
        return self._runs

    def mark(self, tsn: int, last: int) -> bool:
        """`_mark_received` while a gap is open or `tsn` is not the next after `last`,
        the cumulative TSN: True for a duplicate; moves the cumulative TSN over the run
        the TSN joins to it."""
        sctp = self._sctp
        held = sctp._sack_misordered
        runs = self.runs(last)
        if uint32_gte(last, tsn) or tsn in held:
            sctp._sack_duplicates.append(tsn)
            return True
        position = (tsn - last - 1) % TSN_MODULO
        if position == 0:  # the TSN it waited for, and the run held behind it
            joined = runs.first()
            taken = joined[1] + 1 if joined is not None and joined[0] == 1 else 1
            runs.shift(taken)
            if taken > 1:
                if runs:
                    for tsns in tsns_of((last + 2) % TSN_MODULO, (last + taken) % TSN_MODULO):
                        held.difference_update(tsns)
                else:
                    held.clear()
            last = (last + taken) % TSN_MODULO
            self._base = sctp._last_received_tsn = last
        else:
            runs.add(position, position)
            held.add(tsn)
        self._count = len(held)
        if sctp._sack_duplicates:
            _forget_reported(sctp, last)
        return False

    async def send_sack(self) -> None:
        """aiortc's `_send_sack`, its gap blocks read from the runs."""
        sctp = self._sctp
        last = sctp._last_received_tsn
        if last is None:  # no DATA yet, so no SACK is due (aiortc's would fail to pack)
            return
        sack = SackChunk()
        sack.cumulative_tsn = last
        sack.advertised_rwnd = max(0, sctp._advertised_rwnd)
        sack.duplicates = sctp._sack_duplicates[:]
        sack.gaps = [(first + 1, end + 1) for first, end in self.runs(last).spans()]
        await sctp._send_chunk(sack)
        sctp._sack_duplicates.clear()
        sctp._sack_needed = False


def install_lean_receive(sctp: RTCSctpTransport | None) -> bool:
    """Give `sctp` the short way for a lone in-order DATA chunk and its held TSNs as
    runs (idempotent); False when nothing was installed (no transport, or an aiortc
    release other than the pinned one). A `DelayedAck` on `sctp`, installed before or
    after, sends the SACKs this builds."""
    if sctp is None or not supported():
        return False
    if getattr(sctp, _MARK, False):
        return True
    general_handle: Callable[[bytes], Awaitable[None]] = sctp._handle_data
    general_mark: Callable[[int], bool] = sctp._mark_received
    held = _HeldTsns(sctp)

    async def handle_data(data: bytes) -> None:
        chunk = _single_data_chunk(data, sctp._local_verification_tag)
        if chunk is None:
            await general_handle(data)
            return
        await sctp._receive_data_chunk(chunk)
        if sctp._sack_needed:
            await sctp._send_sack()

    def mark_received(tsn: int) -> bool:
        last = sctp._last_received_tsn
        if last is None:
            return general_mark(tsn)
        if sctp._sack_misordered or tsn != (last + 1) % TSN_MODULO:
            return held.mark(tsn, last)
        sctp._last_received_tsn = tsn
        if sctp._sack_duplicates:
            _forget_reported(sctp, tsn)
        return False

    sctp._handle_data = handle_data  # type: ignore[method-assign]
    sctp._mark_received = mark_received  # type: ignore[method-assign]
    ack = delayed_ack_of(sctp)
    if ack is None:
        sctp._send_sack = held.send_sack  # type: ignore[method-assign]
    else:
        ack.build_sack = held.send_sack
    setattr(sctp, _MARK, True)
    return True


def _demuxing(protocol: StunProtocol) -> Callable[[bytes, Any], None]:
    general = protocol.datagram_received

    def datagram_received(data: bytes, addr: Any) -> None:
        if not data:
            return  # neither STUN nor DTLS; aiortc's DTLS transport dies reading its first byte
        if 19 < data[0] < 64:  # DTLS (RFC 7983 §7): never a STUN message
            protocol.receiver.data_received(data, protocol.local_candidate.component)
        else:
            general(data, addr)

    return datagram_received


def install_dtls_demux(connection: Connection | None) -> int:
    """Let `connection`'s ICE sockets (host and relayed candidates) pass DTLS
    datagrams on without the STUN parse, and drop empty ones; the number of sockets
    newly set (0 on another aioice release, or when each already was). Call it once
    the connection has gathered: a socket opened later keeps aioice's own path."""
    if connection is None or aioice.__version__ != PINNED_AIOICE:
        return 0
    installed = 0
    for protocol in getattr(connection, "_protocols", ()):
        if type(protocol) is StunProtocol and not getattr(protocol, _DEMUX, False):
            protocol.datagram_received = _demuxing(protocol)  # type: ignore[method-assign,assignment]
            setattr(protocol, _DEMUX, True)
            installed += 1
    return installed
