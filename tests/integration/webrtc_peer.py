"""Peer processes for tests/integration/test_webrtc_channel.py.

Each peer runs in its own spawned process, sets up a `DataPipe` through a
`PipeExchange` (a test harness over a multiprocessing pipe; the real, signed
exchange is the signalling client's) and puts a dict of what it saw on a queue.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import hashlib
import logging
import random
import socket
import struct
import time
from multiprocessing.connection import Connection
from typing import Any

from transfer_core.webrtc.sctp_ack import AckPolicy, delayed_ack_of
from transfer_core.webrtc.sctp_delay import delay_control_of
from transfer_core.webrtc.sctp_pmtu import PROBE_PACKETS, path_mtu_of
from transfer_core.webrtc.testing import PipeExchange

MESSAGES = 160
"""Binary messages in the bulk scenario (about 4 MB with the sizes below)."""
LOSSY_MESSAGES = 60
"""...and in the lossy one (about 1.5 MB)."""
LARGE_LOSSY_MESSAGES = 160
"""...and in the lossy one with large SCTP packets (about 4 MB: some 270 packets)."""
LOSSY_ACK_POLICY = AckPolicy(after_loss=4, start_bytes=64_000)
"""The receiver's policy on the lossy link: the default but for a short `after_loss` and
a short start (1.5 MB would otherwise be all start and no delay)."""
HIGH_WATER = 256 * 1024
LOW_WATER = 64 * 1024
TEXT = "hello, peer ✓"
FOREIGN_FALLBACK = "192.0.2.1"  # TEST-NET-1, if the machine has no other IPv4 address


def message(index: int, record_size: int) -> bytes:
    """Binary message `index`: its index, then deterministic bytes; sizes vary."""
    sizes = (record_size, 1 + 4, 16 * 1024, 1000, record_size - 1)
    size = sizes[index % len(sizes)]
    return struct.pack(">I", index) + random.Random(index).randbytes(size - 4)


def foreign_addresses() -> list[str]:
    """This machine's IPv4 addresses other than loopback (what must never pair)."""
    import aioice.ice

    return [a for a in aioice.ice.get_host_addresses(use_ipv4=True, use_ipv6=False)
            if a != "127.0.0.1"] or [FOREIGN_FALLBACK]


class _ErrorLog(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


def run_peer(role: str, scenario: str, conn: Connection, results: Any, loop: str) -> None:
    """Process entry point: run one peer, report a dict (or the error's repr)."""
    errors = _ErrorLog()
    logging.getLogger("asyncio").addHandler(errors)
    try:
        if role == "offerer":
            coro = _offerer(scenario, conn)
        elif scenario == "unadapted":
            coro = _plain_answerer(scenario, conn)
        else:
            coro = _answerer(scenario, conn)
        if loop == "uvloop":
            import uvloop

            report = uvloop.run(coro)
        else:
            report = asyncio.run(coro)
        gc.collect()
        report["asyncio_errors"] = errors.lines
        results.put((role, report))
    except BaseException as exc:
        results.put((role, f"{type(exc).__name__}: {exc}"))
        raise


def _describe(pipe: Any) -> dict[str, Any]:
    pc = pipe.peer_connection
    ice = pc.sctp.transport.transport
    return {
        "local_sdp": pc.localDescription.sdp,
        "remote_sdp": pc.remoteDescription.sdp,
        "local_candidates": [c.ip for c in ice.iceGatherer.getLocalCandidates()],
        "remote_candidates": [c.ip for c in ice.getRemoteCandidates()],
        "max_message_size": pipe.max_message_size,
        "record_size": pipe.record_size,
        "setup_ms": pipe.timing.setup_ms,
        "foreign": foreign_addresses(),
        # at open, before any record: the window the peer advertised, which aiortc's
        # slow start heads for (sctp_rwnd), and the one this end advertises
        "ssthresh": pc.sctp._ssthresh,
        "advertised_rwnd": pc.sctp._advertised_rwnd,
    }


async def _offerer(scenario: str, conn: Connection) -> dict[str, Any]:
    from transfer_core.webrtc import (
        ChannelClosedError,
        IceSettings,
        PipeOptions,
        open_as_offerer,
    )

    exchange = PipeExchange(conn)
    # "lossy" is about the delayed SACK, counted in WebRTC's 1,189-byte packets; the
    # same faults on the path-MTU adapter's large packets are "lossy-large".
    options = PipeOptions(high_water=HIGH_WATER, low_water=LOW_WATER,
                          probe_packets=() if scenario == "lossy" else PROBE_PACKETS)
    pipe = await open_as_offerer(IceSettings.local(), exchange, timeout=20, options=options)
    report = _describe(pipe)
    link = LossyLink.on(pipe) if scenario.startswith("lossy") else None
    digest = hashlib.sha256()
    count = _message_count(scenario)
    await pipe.send(TEXT)
    max_seen = 0
    for index in range(count):
        data = message(index, pipe.record_size)
        digest.update(data)
        await pipe.send(data)
        max_seen = max(max_seen, pipe.buffered_amount)
    ack = await pipe.recv()
    await pipe.close()
    try:
        await pipe.send(b"after close")
        report["send_after_close"] = "no error"
    except ChannelClosedError:
        report["send_after_close"] = "ChannelClosedError"
    exchange.close()
    report.update(
        sent_digest=digest.hexdigest(), ack=ack, max_buffered_seen=max_seen,
        max_buffered_amount=pipe.max_buffered_amount, high_water=pipe.high_water,
        largest_message=max(len(message(i, pipe.record_size)) for i in range(5)),
        bytes_sent=pipe.counters.bytes_sent, messages_sent=pipe.counters.messages_sent,
    )
    if link is not None:
        report["link"] = link.counts
    report["path_mtu"] = _path_mtu(pipe)
    control = delay_control_of(pipe.peer_connection.sctp)
    report["delay_control"] = None if control is None else {
        "phase": control.hystart.phase.value, "base_rtt": control.rounds.base}
    return report


def _path_mtu(pipe: Any) -> dict[str, Any] | None:
    mtu = path_mtu_of(pipe.peer_connection.sctp)
    return None if mtu is None else {"packet_size": mtu.packet_size,
                                     "probes_sent": mtu.probes_sent}


async def _answerer(scenario: str, conn: Connection) -> dict[str, Any]:
    from transfer_core.webrtc import (
        ChannelClosedError,
        IceSettings,
        PipeOptions,
        open_as_answerer,
    )

    exchange = TrickleExchange(conn) if scenario == "trickle" else PipeExchange(conn)
    # On the lossy link a fault comes every ~11 packets: with the default `after_loss`
    # (64) the receiver would acknowledge every packet throughout. A short one makes it
    # switch between per-packet and delayed SACKs many times under the faults.
    options = PipeOptions(ack_policy=LOSSY_ACK_POLICY) if scenario == "lossy" else None
    pipe = await open_as_answerer(IceSettings.local(), exchange, timeout=20, options=options)
    report = _describe(pipe)
    link = LossyLink.on(pipe) if scenario.startswith("lossy") else None
    text = await pipe.recv()
    if scenario == "bulk":
        report["empty_datagrams"] = _empty_datagrams_to(pipe)
    count = _message_count(scenario)
    digest = hashlib.sha256()
    indices = []
    for _ in range(count):
        data = await pipe.recv()
        assert isinstance(data, bytes)
        indices.append(struct.unpack_from(">I", data)[0])
        digest.update(data)
    await pipe.send("ack")
    started = time.monotonic()
    try:
        extra = await asyncio.wait_for(pipe.recv(), 15)
        report["after_peer_close"] = f"received {extra!r}"
    except ChannelClosedError:
        report["after_peer_close"] = "ChannelClosedError"
    except TimeoutError:
        report["after_peer_close"] = "timeout"
    report["close_noticed_s"] = time.monotonic() - started
    await pipe.close()
    exchange.close()
    if isinstance(exchange, TrickleExchange):
        report["trickled"] = exchange.trickled
    report.update(
        text=text, indices=indices, received_digest=digest.hexdigest(),
        bytes_received=pipe.counters.bytes_received,
        messages_received=pipe.counters.messages_received,
    )
    report["path_mtu"] = _path_mtu(pipe)
    if link is not None:
        report["link"] = link.counts
        ack = delayed_ack_of(pipe.peer_connection.sctp)
        report["ack"] = None if ack is None else {
            "every": ack.policy.every, "sent": ack.sacks_sent, "delayed": ack.sacks_delayed,
            "after_loss": ack.sacks_after_loss, "idle": ack.sacks_idle,
            "unknown": ack.sacks_unknown, "at_start": ack.sacks_at_start,
        }
    return report


def _empty_datagrams_to(pipe: Any) -> int:
    """Send a zero-length UDP datagram, from a socket of nobody's, to each of this
    peer's ICE sockets, as anyone who can reach them can (aiortc alone closes the
    connection on one: sctp_receive.py); how many were sent."""
    from transfer_core.webrtc.udp_buffers import ice_udp_sockets

    sent = 0
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as stranger:
        for sock in ice_udp_sockets(pipe.peer_connection):
            stranger.sendto(b"", sock.getsockname()[:2])
            sent += 1
    return sent


async def _plain_answerer(scenario: str, conn: Connection) -> dict[str, Any]:
    """aiortc as it comes, none of our adapters (a third-party peer): its SDP says
    nothing of the packets it reads, and it reads DTLS records 1,500 bytes at a time."""
    from aiortc import RTCPeerConnection, RTCSessionDescription

    from transfer_core.webrtc import IceSettings, loopback_gathering

    exchange = PipeExchange(conn)
    pc = RTCPeerConnection(IceSettings.local().to_rtc_configuration())
    inbox: asyncio.Queue[Any] = asyncio.Queue()
    channels: list[Any] = []

    def on_datachannel(channel: Any) -> None:
        channels.append(channel)
        channel.on("message", inbox.put_nowait)

    pc.on("datachannel", on_datachannel)
    offer = await exchange.receive_description("offer")
    await pc.setRemoteDescription(RTCSessionDescription(sdp=offer, type="offer"))
    with loopback_gathering():
        await pc.setLocalDescription(await pc.createAnswer())
    await exchange.send_description(pc.localDescription.sdp, "answer")
    text = await asyncio.wait_for(inbox.get(), 30)
    digest, indices, received = hashlib.sha256(), [], 0
    for _ in range(_message_count(scenario)):
        data = await asyncio.wait_for(inbox.get(), 30)
        indices.append(struct.unpack_from(">I", data)[0])
        digest.update(data)
        received += len(data)
    channels[0].send("ack")
    await asyncio.sleep(0.5)  # let the "ack" leave before closing
    await pc.close()
    exchange.close()
    return {"text": text, "indices": indices, "received_digest": digest.hexdigest(),
            "bytes_received": received, "remote_sdp": offer}


def _message_count(scenario: str) -> int:
    return {"bulk": MESSAGES, "lossy": LOSSY_MESSAGES,
            "lossy-large": LARGE_LOSSY_MESSAGES, "unadapted": MESSAGES}.get(scenario, 5)


class LossyLink:
    """Drops, duplicates and reorders SCTP packets on purpose, between aiortc's SCTP
    and its DTLS transport (a fault injected: loopback itself loses nothing on cue).

    On the sending peer, of the packets carrying DATA (first sends and retransmissions
    alike): every 29th is dropped, every 31st is held back and sent after the next one,
    every 37th is sent twice. On the receiving peer, every 7th SACK is dropped. Counts
    what it did, and the SACKs that reported gaps or duplicates.
    """

    DATA, SACK = 0, 3

    def __init__(self, dtls: Any) -> None:
        self._send = dtls._send_data  # aiortc's own, bound before we shadow it
        self._held: bytes | None = None
        self._data = 0
        self._sacks = 0
        self.counts = {"data": 0, "dropped": 0, "reordered": 0, "duplicated": 0,
                       "sacks": 0, "sacks_dropped": 0, "sacks_with_gaps": 0,
                       "sacks_with_duplicates": 0}
        dtls._send_data = self._send_data

    @classmethod
    def on(cls, pipe: Any) -> LossyLink:
        return cls(pipe.peer_connection.sctp.transport)

    async def _send_data(self, packet: bytes) -> None:
        kind = packet[12] if len(packet) > 12 else -1
        if kind == self.DATA:
            await self._on_data(packet)
        elif kind == self.SACK:
            await self._on_sack(packet)
        else:
            await self._send(packet)

    async def _on_data(self, packet: bytes) -> None:
        self._data += 1
        self.counts["data"] += 1
        n = self._data
        if n % 29 == 0:
            self.counts["dropped"] += 1
            return
        if n % 31 == 0 and self._held is None:
            self.counts["reordered"] += 1
            self._held = packet
            asyncio.get_running_loop().call_later(0.05, self._release_held)
            return
        await self._send(packet)
        if n % 37 == 0:
            self.counts["duplicated"] += 1
            await self._send(packet)
        held, self._held = self._held, None
        if held is not None:
            await self._send(held)

    def _release_held(self) -> None:
        held, self._held = self._held, None
        if held is not None:
            asyncio.ensure_future(self._send_quietly(held))

    async def _send_quietly(self, packet: bytes) -> None:
        with contextlib.suppress(ConnectionError):
            await self._send(packet)

    async def _on_sack(self, packet: bytes) -> None:
        from aiortc.rtcsctptransport import SackChunk, parse_packet

        self._sacks += 1
        self.counts["sacks"] += 1
        for chunk in parse_packet(packet)[3]:
            if isinstance(chunk, SackChunk):
                self.counts["sacks_with_gaps"] += bool(chunk.gaps)
                self.counts["sacks_with_duplicates"] += bool(chunk.duplicates)
        if self._sacks % 7 == 0:
            self.counts["sacks_dropped"] += 1
            return
        await self._send(packet)


class TrickleExchange(PipeExchange):
    """Behaves like a browser: the answer carries no usable candidate (one foreign
    candidate only); the real ones follow by trickle, after foreign ones."""

    trickled: list[str | None]

    async def send_description(self, sdp: str, kind: str) -> None:
        lines = sdp.splitlines()
        real = [line[2:] for line in lines if line.startswith("a=candidate:")]
        port = real[0].split()[5]
        foreign = [
            f"candidate:9{n} 1 udp 2130706431 {address} {port} typ host"
            for n, address in enumerate(foreign_addresses())
        ]
        kept = [
            line for line in lines
            if not line.startswith(("a=candidate:", "a=end-of-candidates"))
        ]
        at = next(i for i, line in enumerate(kept) if line.startswith("a=ice-ufrag"))
        kept.insert(at, "a=" + foreign[0])  # a foreign candidate in the SDP itself
        await super().send_description("\r\n".join(kept) + "\r\n", kind)
        self.trickled = [
            *foreign,
            "candidate:8 1 udp 2122260223 10.255.255.1 9 typ host",
            "candidate:7 1 udp 2122260223 peer.local 9 typ host",
            *real,
            None,
        ]
        for line in self.trickled:
            self.send_candidate(line)
