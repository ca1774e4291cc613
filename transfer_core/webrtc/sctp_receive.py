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
  TSN; every other TSN takes aiortc's `_mark_received`.

What is delivered, acknowledged and dropped is unchanged: tests/unit/test_sctp_receive.py
feeds the same packets (in order, reordered, duplicated, corrupted, bundled) to an
adapted and a plain association and compares what each delivered and acknowledged. A
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
from aiortc.rtcsctptransport import DataChunk, RTCSctpTransport, crc32c
from aiortc.utils import uint32_gt

from .ice_pacing import PINNED_AIOICE
from .sctp_ack import TSN_MODULO, supported

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


def install_lean_receive(sctp: RTCSctpTransport | None) -> bool:
    """Give `sctp` the short way for a lone in-order DATA chunk (idempotent); False
    when nothing was installed (no transport, or an aiortc release other than the
    pinned one)."""
    if sctp is None or not supported():
        return False
    if getattr(sctp, _MARK, False):
        return True
    general_handle: Callable[[bytes], Awaitable[None]] = sctp._handle_data
    general_mark: Callable[[int], bool] = sctp._mark_received

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
        if last is None or sctp._sack_misordered or tsn != (last + 1) % TSN_MODULO:
            return general_mark(tsn)
        sctp._last_received_tsn = tsn
        if sctp._sack_duplicates:  # those at or below the cumulative TSN are reported
            sctp._sack_duplicates = [x for x in sctp._sack_duplicates if uint32_gt(x, tsn)]
        return False

    sctp._handle_data = handle_data  # type: ignore[method-assign]
    sctp._mark_received = mark_received  # type: ignore[method-assign]
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
