"""Larger SCTP packets where the path carries them: path-MTU discovery for aiortc's
SCTP association (RFC 8899, "DPLPMTUD", §6.2 for SCTP; RFC 4820's PAD chunk), as a
small adapter.

aiortc sends SCTP packets of at most 1,189 bytes (`SCTP_MAX_PACKET_LENGTH`): WebRTC's
size that fits the minimum IPv6 MTU over any path once UDP, DTLS and TURN are added.
Every packet costs both peers a DTLS record, a datagram, a CRC and a pass through
aiortc's Python, and on a fast path that per-packet cost is what bounds a transfer
(docs/benchmarks.md: both peers CPU-bound). Many paths carry far more: the loopback
interface 64 KiB, a LAN or most of the Internet 1,500-byte frames, a data centre
9,000. RFC 8899 lets a packetization layer find out for itself, without trusting
ICMP: it sends a probe packet of the size it wants to use, and uses that size once
the peer acknowledges the probe. For SCTP the probe is a HEARTBEAT chunk padded with
a PAD chunk (RFC 4820: a receiver that does not know PAD skips it, chunk type 0x84),
and the HEARTBEAT ACK confirms the size. The peer answers from its own SCTP stack:
nothing needs to be negotiated, and a peer or a path that cannot take the size
simply never answers, so the association keeps the size it had.

`install_path_mtu(sctp)` puts this on one association:

- **Receiving whole records.** aiortc reads each DTLS record with
  `SSL.Connection.recv(1500)` and sends with `bio_read(1500)`, so a larger packet
  would be cut. Once the DTLS handshake is over (one record per write from then on),
  the connection object is wrapped so both read up to `dtls_records.RECORD_LIMIT`
  (which also makes each of those calls cheaper).
- **The search.** When the association is established (a `DataPipe`'s setup holds it
  until the channel is open: the way there needs no probe), it sends one probe of each
  size in `PROBE_PACKETS` above the current one, largest first, with the
  don't-fragment bit set on the ICE sockets for that send (IP_PMTUDISC_PROBE: a probe
  the kernel would have to fragment fails instead of hiding the path's MTU), and
  takes the largest acknowledged. Through a TURN relay it tries 1,400 bytes at most:
  the relay's own leg to the peer would fragment a larger probe where we cannot see.
  Unanswered sizes are probed again, `MAX_PROBES` times in all, `PROBE_TIMEOUT` apart
  (RFC 8899's MAX_PROBES is 3).
- **Using the size.** aiortc reads its packet size from a module constant
  (`USERDATA_MAX_LENGTH`) in four methods: fragmentation (`_send`), the burst limit
  (`_transmit`), congestion window growth (`_receive_sack_chunk`) and the
  retransmission timeout (`_t3_expired`). Each gets a per-association copy whose
  globals carry this association's size, so all of them use the path's MTU as
  RFC 9260 means it, and another association in the same process (a page beside a
  CLI in a fan-out) keeps its own. Messages already cut into chunks keep their size.

What it does not do (and why it is safe without): it never lowers the size again
(RFC 8899's black-hole detection). The sockets send data with the kernel's default
(IP_PMTUDISC_WANT), so if a later route has a smaller MTU the kernel fragments the
datagram instead of dropping it; our engine makes a new connection on a path change
rather than restarting ICE. A peer that is not this adapter (Chromium) answers a probe
only if it could read it whole.

Relies on aiortc internals; installs only on the aiortc release it was checked against
(`PINNED_AIORTC`) and on methods aiortc itself defines; tests/unit/test_sctp_pmtu.py
fails loudly when they change.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import struct
import types
from collections.abc import Awaitable, Iterator
from typing import Any

import aiortc
import aiortc.rtcsctptransport as sctp_module
from aiortc.rtcsctptransport import (
    SCTP_COMMON_HEADER_LENGTH,
    SCTP_DATA_CHUNK_HEADER_LENGTH,
    SCTP_MAX_PACKET_LENGTH,
    HeartbeatAckChunk,
    HeartbeatChunk,
    RTCSctpTransport,
    serialize_packet,
)

from ..timeouts import within
from .dtls_records import read_whole_records
from .ice import selected_path_of_sctp
from .udp_buffers import udp_sockets_of_ice

logger = logging.getLogger(__name__)

PINNED_AIORTC = "1.16.0"
"""The aiortc release whose SCTP and DTLS paths this adapter was written against."""
_MARK = "_sgraph_send_path_mtu"

BASE_PACKET = SCTP_MAX_PACKET_LENGTH
"""WebRTC's safe SCTP packet size, aiortc's own: what every association starts with."""
PROBE_PACKETS = (16_000, 8_800, 1_400)
"""SCTP packet sizes to try, largest first: under DTLS's 16 KiB record limit (loopback,
virtual links), a 9,000-byte jumbo frame, and a 1,500-byte Ethernet frame; each leaves
room for IPv6, UDP, DTLS (up to 37 bytes) and a TURN ChannelData header."""
ANY_PEER_READS = 1_500
"""The largest SCTP packet any WebRTC peer reads whole: aiortc reads each DTLS record
with a 1,500-byte buffer (and OpenSSL keeps the rest of a larger record for the next
read, so a larger probe would leave an unadapted aiortc peer reading stale bytes from
then on), Chromium with a 2,048-byte one. Larger probes go only to a peer that says in
its SDP that it reads more (`sdp.MAX_PACKET_ATTRIBUTE`, protocol Revision 2.4; our page
says 2,048 from Revision 2.5)."""
READS_WHOLE = 16_384
"""The largest SCTP packet this adapter reads whole (DTLS's record limit), which our
SDP advertises."""
MAX_PROBES = 3
PROBE_TIMEOUT = 1.0
"""Seconds to wait for a round of probes' acknowledgements."""

_SIZED_METHODS = ("_send", "_transmit", "_receive_sack_chunk", "_t3_expired")
"""aiortc's methods that read `USERDATA_MAX_LENGTH` (tests check the list is whole)."""
_HEARTBEAT_INFO = 1
_PAD_CHUNK = 0x84
_TAG = b"SGpm"

# Linux values; Python's socket module names them only from 3.12 on some builds.
_IP_MTU_DISCOVER = getattr(socket, "IP_MTU_DISCOVER", 10)
_IPV6_MTU_DISCOVER = getattr(socket, "IPV6_MTU_DISCOVER", 23)
_PMTUDISC_PROBE = getattr(socket, "IP_PMTUDISC_PROBE", 3)


def supported() -> bool:
    """Whether the installed aiortc is the one this adapter was checked against."""
    return aiortc.__version__ == PINNED_AIORTC


def reads_whole() -> int | None:
    """What our SDP may advertise (`READS_WHOLE`), or None when this adapter cannot
    install here (another aiortc): then we read what aiortc reads, and say nothing."""
    return READS_WHOLE if supported() else None


def probe_sizes(
    remote_reads: int | None, sizes: tuple[int, ...] = PROBE_PACKETS
) -> tuple[int, ...]:
    """The sizes worth probing towards a peer that reads packets up to `remote_reads`
    bytes whole (None: it did not say, so `ANY_PEER_READS`), largest first: those of
    `sizes` it reads, and its own limit where that lies between them (a page says
    2,048, what libwebrtc's DTLS reads: protocol Revision 2.5)."""
    limit = max(remote_reads or 0, ANY_PEER_READS)
    chosen = {s for s in sizes if s <= limit}
    own = limit - limit % 4  # a probe pads to whole 4-byte words
    if sizes and ANY_PEER_READS < own < max(sizes):
        chosen.add(own)
    return tuple(sorted(chosen, reverse=True))


def user_data_length(packet: int) -> int:
    """The most user data one DATA chunk carries in an SCTP packet of `packet` bytes
    (chunks are padded to 4 bytes), as aiortc computes it for its own size."""
    return (packet - SCTP_COMMON_HEADER_LENGTH - SCTP_DATA_CHUNK_HEADER_LENGTH) // 4 * 4


def probe_chunks(size: int, nonce: bytes) -> bytes:
    """A HEARTBEAT whose info names this probe, and a PAD chunk bringing the packet
    (with its 12-byte common header) to `size` bytes."""
    heartbeat = HeartbeatChunk()
    heartbeat.params = [(_HEARTBEAT_INFO, _TAG + nonce + struct.pack("!I", size))]
    body = bytes(heartbeat)
    pad = size - SCTP_COMMON_HEADER_LENGTH - len(body)
    if pad < 4 or pad % 4:
        raise ValueError(f"a probe of {size} bytes cannot be padded")
    return body + struct.pack("!BBH", _PAD_CHUNK, 0, pad) + bytes(pad - 4)


def probe_of(chunk: HeartbeatAckChunk) -> tuple[bytes, int] | None:
    """(nonce, size) when `chunk` answers one of our probes."""
    for kind, value in chunk.params:
        if kind == _HEARTBEAT_INFO and len(value) == 12 and value[:4] == _TAG:
            return value[4:8], struct.unpack("!I", value[8:])[0]
    return None


async def _nothing() -> None:
    """What `_receive_chunk` returns for a probe's answer, which aiortc never sees."""


class _Chunks:
    """Already-serialized chunks, for aiortc's `serialize_packet` (one 'chunk')."""

    def __init__(self, data: bytes) -> None:
        self._data = data

    def __bytes__(self) -> bytes:
        return self._data


@contextlib.contextmanager
def dont_fragment(sockets: list[socket.socket]) -> Iterator[None]:
    """Set the don't-fragment bit, ignoring the kernel's path-MTU cache (PROBE), on
    `sockets` for the duration; restores what each had."""
    restore: list[tuple[socket.socket, int, int, int]] = []
    for sock in sockets:
        level, option = (
            (socket.IPPROTO_IPV6, _IPV6_MTU_DISCOVER) if sock.family == socket.AF_INET6
            else (socket.IPPROTO_IP, _IP_MTU_DISCOVER)
        )
        try:
            restore.append((sock, level, option, sock.getsockopt(level, option)))
            sock.setsockopt(level, option, _PMTUDISC_PROBE)
        except OSError as exc:
            logger.debug("could not set don't-fragment on a probe socket: %s", exc)
    try:
        yield
    finally:
        for sock, level, option, value in restore:
            with contextlib.suppress(OSError):
                sock.setsockopt(level, option, value)


class PathMtu:
    """Path-MTU discovery on one `RTCSctpTransport` (see the module docstring)."""

    def __init__(self, sctp: RTCSctpTransport, sizes: tuple[int, ...] = PROBE_PACKETS) -> None:
        self._sctp = sctp
        self._sizes = tuple(sorted((s for s in sizes if s > BASE_PACKET), reverse=True))
        self._globals = dict(vars(sctp_module))
        """The globals of this association's copies of aiortc's sized methods."""
        self.packet_size = BASE_PACKET
        """The SCTP packet size in use (bytes)."""
        self.probes_sent = 0
        self._pending: dict[bytes, int] = {}
        self._answered = asyncio.Event()
        self._search: asyncio.Future[None] | None = None
        self._established = False
        self._held = False
        self.finished = asyncio.Event()
        """Set when the search is over (every size confirmed or given up)."""

    def _install(self) -> None:
        sctp = self._sctp
        for name in _SIZED_METHODS if self._sizes else ():
            function = getattr(RTCSctpTransport, name)
            copy = types.FunctionType(function.__code__, self._globals, function.__name__,
                                      function.__defaults__, function.__closure__)
            copy.__kwdefaults__ = function.__kwdefaults__
            setattr(sctp, name, types.MethodType(copy, sctp))
        self._receive_chunk = sctp._receive_chunk  # aiortc's own (or an earlier adapter's)
        sctp._receive_chunk = self._on_chunk  # type: ignore[method-assign,assignment]
        self._set_state = sctp._set_state
        sctp._set_state = self._on_state  # type: ignore[method-assign]
        sctp.transport.on("statechange", self._on_dtls_state)
        if sctp.transport.state == "connected":
            read_whole_records(sctp.transport)
        setattr(sctp, _MARK, self)

    @property
    def globals(self) -> dict[str, Any]:
        """The globals this association's copies of aiortc's methods run with (its
        `USERDATA_MAX_LENGTH`): another adapter's copy of one of them takes these."""
        return self._globals

    def use(self, packet: int) -> None:
        """Send new DATA in SCTP packets of `packet` bytes."""
        self.packet_size = packet
        self._globals["USERDATA_MAX_LENGTH"] = user_data_length(packet)

    def _on_dtls_state(self) -> None:
        if self._sctp.transport.state == "connected":
            read_whole_records(self._sctp.transport)

    def hold(self) -> None:
        """Search only after `release()`: the probes (and answering the peer's) then
        stay off the way to the open channel, which needs none of them."""
        self._held = True

    def release(self) -> None:
        """Search now, or as soon as the association is established."""
        self._held = False
        self._start()

    def _start(self) -> None:
        if self._established and not self._held and self._search is None and self._sizes:
            self._search = asyncio.ensure_future(self._run())

    def _on_state(self, state: Any) -> None:
        self._set_state(state)
        if state == RTCSctpTransport.State.ESTABLISHED:
            self._established = True
            self._start()
        elif state == RTCSctpTransport.State.CLOSED:
            self.cancel()

    def _on_chunk(self, chunk: Any) -> Awaitable[None]:
        # not a coroutine itself: every chunk received passes here, and handing on
        # aiortc's own coroutine spares each one a coroutine layer of ours
        if isinstance(chunk, HeartbeatAckChunk):
            probe = probe_of(chunk)
            if probe is not None:
                self._on_answer(*probe)
                return _nothing()
        return self._receive_chunk(chunk)

    def _on_answer(self, nonce: bytes, size: int) -> None:
        if self._pending.pop(nonce, None) != size:
            return  # not a probe we are waiting for (a late answer of an earlier round)
        if size > self.packet_size:
            self.use(size)
            logger.debug("SCTP packets of %d bytes: the path carried a probe of that size", size)
        self._answered.set()

    async def _run(self) -> None:
        path = selected_path_of_sctp(self._sctp)
        if path is not None and path.relayed:
            # the TURN server's leg to the peer sets no don't-fragment bit we control: a
            # large probe would pass as IP fragments and prove nothing about the path
            self._sizes = tuple(s for s in self._sizes if s <= ANY_PEER_READS)
        try:
            for _ in range(MAX_PROBES):
                wanted = [s for s in self._sizes if s > self.packet_size]
                if not wanted:
                    break
                self._pending.clear()
                self._answered.clear()
                await self._send_probes(wanted)
                loop = asyncio.get_running_loop()
                deadline = loop.time() + PROBE_TIMEOUT
                # the largest size answering ends the round; smaller ones raise meanwhile
                while self.packet_size < wanted[0] and loop.time() < deadline:
                    with contextlib.suppress(TimeoutError):
                        await within(self._answered.wait(), deadline - loop.time())
                    self._answered.clear()
        except OSError as exc:  # ConnectionError included: the transport closed
            logger.debug("path-MTU search stopped: %s", exc)
        finally:
            self._pending.clear()
            self.finished.set()
            logger.debug("SCTP packet size %d bytes after %d probes",
                         self.packet_size, self.probes_sent)

    async def _send_probes(self, sizes: list[int]) -> None:
        sctp = self._sctp
        remote_port = sctp._remote_port
        if remote_port is None:  # not established: nothing to probe
            return
        with dont_fragment(list(udp_sockets_of_ice(sctp.transport.transport))):
            for size in sizes:
                nonce = os.urandom(4)
                self._pending[nonce] = size
                chunks: Any = _Chunks(probe_chunks(size, nonce))
                packet = serialize_packet(sctp._local_port, remote_port,
                                          sctp._remote_verification_tag, chunks)
                self.probes_sent += 1
                await sctp.transport._send_data(packet)

    def cancel(self) -> None:
        """Stop the search (the association is going away)."""
        if self._search is not None and not self._search.done():
            self._search.cancel()


def install_path_mtu(
    sctp: RTCSctpTransport | None, sizes: tuple[int, ...] = PROBE_PACKETS
) -> PathMtu | None:
    """Put path-MTU discovery on `sctp` before its association starts (idempotent): it
    reads whole records from then on, and probes `sizes` (none: it never sends larger
    packets). None when nothing was installed: no transport, or an aiortc that is not
    `PINNED_AIORTC` (a warning: the transfer works at 1,189-byte packets)."""
    if sctp is None:
        return None
    existing: Any = getattr(sctp, _MARK, None)
    if isinstance(existing, PathMtu):
        return existing
    if not supported():
        logger.warning("aiortc %s is not %s: SCTP packets stay at %d bytes",
                       aiortc.__version__, PINNED_AIORTC, BASE_PACKET)
        return None
    foreign = [n for n in _SIZED_METHODS if getattr(
        getattr(RTCSctpTransport, n), "__globals__", None) is not vars(sctp_module)]
    if foreign:  # someone else's code in aiortc's place (a tracer): read, never probe
        logger.warning("%s replaced in aiortc: SCTP packets sent stay at %d bytes",
                       ", ".join(foreign), BASE_PACKET)
        sizes = ()
    mtu = PathMtu(sctp, sizes)
    mtu._install()
    return mtu


def path_mtu_of(sctp: RTCSctpTransport | None) -> PathMtu | None:
    """The `PathMtu` installed on `sctp`, if any (tests, benchmarks, the CLI summary)."""
    found: Any = getattr(sctp, _MARK, None) if sctp is not None else None
    return found if isinstance(found, PathMtu) else None
