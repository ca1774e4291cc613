"""One reliable, ordered data channel over one aiortc peer connection.

`open_as_offerer` / `open_as_answerer` set the connection up through an
`SdpExchange` and return a `DataPipe`: `send` with bounded sender memory
(a high-water mark on `bufferedAmount`, woken by `bufferedamountlow`), `recv`
from an in-process inbox, `close`, and counters. Message sizes come from the
remote SDP's `a=max-message-size`.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import math
import time
from dataclasses import dataclass, field
from typing import Any

from aiortc import RTCDataChannel, RTCPeerConnection, RTCSessionDescription
from aiortc.exceptions import InvalidStateError
from aiortc.sdp import candidate_from_sdp

from ..protocol.layout import DEFAULT_RECORD_SIZE, MAX_RECORD_SIZE, MIN_RECORD_SIZE
from .dtls_ahead import make_dtls_context_ahead
from .errors import (
    ChannelClosedError,
    ChannelSetupError,
    ChannelSetupTimeout,
    MessageTooLargeError,
)
from .exchange import SdpExchange
from .ice import IceSettings, loopback_gathering
from .ice_consent import install_patient_consent
from .ice_direct_first import install_direct_first
from .ice_pacing import ice_connection_of, install_eager_check_end
from .sctp_ack import DEFAULT_ACK_POLICY, AckPolicy, install_delayed_ack
from .sctp_delay import delay_control_of, install_delay_control
from .sctp_pmtu import PROBE_PACKETS, install_path_mtu, path_mtu_of, probe_sizes, reads_whole
from .sctp_reassembly import install_tail_aware_reassembly
from .sctp_receive import install_dtls_demux, install_lean_receive
from .sctp_rwnd import install_receive_window, receive_window_for
from .sctp_transmit import install_lean_transmit
from .sdp import max_message_size as advertised_max_message_size
from .sdp import max_packet, with_max_packet
from .sliced_send import Sliced, send_sliced
from .udp_buffers import enlarge_receive_buffers

logger = logging.getLogger(__name__)

DEFAULT_LABEL = "sgraph-send"
PREFERRED_RECORD_SIZE = DEFAULT_RECORD_SIZE
"""One record per message: the protocol's default record size (its docstring says why)."""
DEFAULT_HIGH_WATER = 1024 * 1024
DEFAULT_LOW_WATER = 256 * 1024
DEFAULT_SETUP_TIMEOUT = 30.0

Message = bytes | str


# --- message sizes -----------------------------------------------------------------


def negotiated_max_message_size(remote_sdp: str) -> int:
    """The largest message to send to the peer that wrote `remote_sdp`.

    Its `a=max-message-size` (65536 when absent, RFC 8841; 0 means "any"), capped at
    256 KiB and floored at 16 KiB, the size every WebRTC stack accepts.
    """
    advertised = advertised_max_message_size(remote_sdp)
    if advertised == 0:
        advertised = MAX_RECORD_SIZE
    return max(MIN_RECORD_SIZE, min(MAX_RECORD_SIZE, advertised))


def record_size_for(max_message_size: int, preferred: int = PREFERRED_RECORD_SIZE) -> int:
    """The record (= message) size to use: `preferred`, within what the peer takes,
    and within the protocol's [16 KiB, 256 KiB]."""
    return max(MIN_RECORD_SIZE, min(MAX_RECORD_SIZE, max_message_size, preferred))


# --- value objects -----------------------------------------------------------------


@dataclass
class PipeCounters:
    """What went through a pipe, in application messages and their payload bytes."""

    bytes_sent: int = 0
    """Payload bytes handed to `send` (UTF-8 bytes for text)."""
    messages_sent: int = 0
    """Messages handed to `send`."""
    bytes_received: int = 0
    """Payload bytes delivered to the inbox."""
    messages_received: int = 0
    """Messages delivered to the inbox."""


@dataclass
class SetupTiming:
    """When each setup step finished, on `time.perf_counter()`'s clock."""

    role: str
    """`"offerer"` or `"answerer"`."""
    started: float = field(default_factory=time.perf_counter)
    """`open_as_*` was called (the answerer starts waiting for the offer here)."""
    offer_at: float | None = None
    """The offer existed: created locally (offerer) or received (answerer)."""
    opened: float | None = None
    """The data channel was open."""

    @property
    def setup_ms(self) -> float:
        """Start of `open_as_*` to an open channel, in milliseconds."""
        assert self.opened is not None, "the channel is not open"
        return (self.opened - self.started) * 1000

    @property
    def offer_to_open_ms(self) -> float:
        """Offer created/received to an open channel, in milliseconds."""
        assert self.opened is not None and self.offer_at is not None
        return (self.opened - self.offer_at) * 1000


@dataclass(frozen=True)
class PipeOptions:
    """Knobs of one pipe; the defaults suit file transfer."""

    label: str = DEFAULT_LABEL
    """Data channel label (the answerer accepts only this one)."""
    high_water: int = DEFAULT_HIGH_WATER
    """`send` waits while `bufferedAmount` is at or above this many bytes."""
    low_water: int = DEFAULT_LOW_WATER
    """...and resumes once it falls to this many (`bufferedAmountLowThreshold`)."""
    ack_policy: AckPolicy = DEFAULT_ACK_POLICY
    """When this peer's SCTP acknowledges the DATA it receives (`sctp_ack`)."""
    probe_packets: tuple[int, ...] = PROBE_PACKETS
    """SCTP packet sizes this peer tries on the path (`sctp_pmtu`); () keeps aiortc's
    1,189 bytes."""

    def __post_init__(self) -> None:
        if not 0 <= self.low_water < self.high_water:
            raise ValueError("need 0 <= low_water < high_water")


# --- the pipe ----------------------------------------------------------------------


class DataPipe:
    """A reliable ordered data channel with bounded sender memory.

    Built by `open_as_offerer` / `open_as_answerer`. Incoming messages wait in an
    inbox (the same objects aiortc delivers, never copied) until `recv` takes them.
    Once the channel or its peer connection closes or fails, `recv` returns what is
    left in the inbox and then raises `ChannelClosedError`; `send` raises it at once.
    """

    def __init__(
        self, pc: RTCPeerConnection, channel: RTCDataChannel, options: PipeOptions,
        timing: SetupTiming,
    ) -> None:
        self._pc = pc
        self._channel = channel
        self._options = options
        self._high_water = options.high_water
        self._inbox: collections.deque[Message] = collections.deque()
        self._recv_waiter: asyncio.Future[None] | None = None
        self._drain_waiter: asyncio.Future[None] | None = None
        self._max_message_size = MIN_RECORD_SIZE
        self._close_reason: str | None = None
        self._closing: asyncio.Task[None] | None = None
        self.counters = PipeCounters()
        """Messages and bytes through this pipe."""
        self.timing = timing
        """When setup steps finished (the benchmark reads `timing.setup_ms`)."""
        self.closed = asyncio.Event()
        """Set once the channel is closed, by either side or by failure."""
        self.max_buffered_amount = 0
        """Largest `bufferedAmount` seen right after a `send` (back-pressure check)."""

        channel.bufferedAmountLowThreshold = options.low_water
        channel.on("message", self._on_message)
        channel.on("bufferedamountlow", self._on_low)
        channel.on("close", self._on_channel_close)
        pc.on("connectionstatechange", self._on_connection_state)

    # --- properties ---------------------------------------------------------------

    @property
    def max_message_size(self) -> int:
        """Largest message `send` accepts, from the remote SDP (16 KiB .. 256 KiB)."""
        return self._max_message_size

    @property
    def record_size(self) -> int:
        """The record size to use on this pipe (`record_size_for(max_message_size)`)."""
        return record_size_for(self._max_message_size)

    @property
    def buffered_amount(self) -> int:
        """Bytes queued in aiortc and not yet handed to SCTP."""
        return self._channel.bufferedAmount

    @property
    def pending_messages(self) -> int:
        """Messages received and not yet taken by `recv`. aiortc advertises a fixed
        receive window and never slows the peer down, so a consumer slower than the
        network grows this without bound: the session layer bounds it with acks."""
        return len(self._inbox)

    @property
    def high_water(self) -> int:
        """`send` waits while `buffered_amount` is at or above this."""
        return self._high_water

    @property
    def path_rtt(self) -> float | None:
        """Seconds: the least round trip SCTP has measured on the path (its RTT samples,
        so no queue of ours or the receiver's in it); None before the first."""
        control = delay_control_of(self._pc.sctp)
        least = control.rounds.least if control is not None else math.inf
        return None if math.isinf(least) else least

    @property
    def is_closed(self) -> bool:
        """Whether the channel has closed (see `close_reason`)."""
        return self._close_reason is not None

    @property
    def close_reason(self) -> str | None:
        """Why the pipe closed, for messages; None while open."""
        return self._close_reason

    @property
    def peer_connection(self) -> RTCPeerConnection:
        """The underlying aiortc connection (stats, tests)."""
        return self._pc

    def _set_remote_description(self, sdp: str) -> None:
        self._max_message_size = negotiated_max_message_size(sdp)

    # --- sending ------------------------------------------------------------------

    async def send(self, data: Message | Sliced) -> None:
        """Queue one message; waits first while `bufferedAmount` ≥ the high-water mark.

        A binary message may come in pieces (`Sliced`, a `SealedRecord`): aiortc then
        copies its bytes once, as it cuts them into packets, instead of after a join.
        Raises `ChannelClosedError` if the pipe is closed and `MessageTooLargeError`
        for a message over `max_message_size`.
        """
        channel = self._channel
        if channel.bufferedAmount >= self._high_water:
            await self._drain()
        if self._close_reason is not None:
            raise ChannelClosedError(f"cannot send: {self._close_reason}")
        size = len(data.encode()) if isinstance(data, str) else len(data)
        if size > self._max_message_size:
            raise MessageTooLargeError(
                f"a {size}-byte message exceeds the peer's limit of {self._max_message_size}"
            )
        try:
            if isinstance(data, (bytes, str)):
                channel.send(data)
            else:
                send_sliced(channel, data)
        except InvalidStateError as exc:
            raise ChannelClosedError(f"cannot send: channel is {channel.readyState}") from exc
        except ValueError as exc:  # aiortc's own check against the remote limit
            raise MessageTooLargeError(str(exc)) from exc
        counters = self.counters
        counters.bytes_sent += size
        counters.messages_sent += 1
        buffered = channel.bufferedAmount
        if buffered > self.max_buffered_amount:
            self.max_buffered_amount = buffered

    async def _drain(self) -> None:
        while self._channel.bufferedAmount >= self._high_water and self._close_reason is None:
            waiter = asyncio.get_running_loop().create_future()
            self._drain_waiter = waiter
            try:
                await waiter
            finally:
                self._drain_waiter = None

    async def drain(self) -> None:
        """Wait until `bufferedAmount` is at or below the low-water mark (or closed)."""
        while self._channel.bufferedAmount > self._options.low_water:
            if self._close_reason is not None:
                raise ChannelClosedError(f"cannot drain: {self._close_reason}")
            waiter = asyncio.get_running_loop().create_future()
            self._drain_waiter = waiter
            try:
                await waiter
            finally:
                self._drain_waiter = None

    def _on_low(self) -> None:
        waiter = self._drain_waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    # --- receiving ----------------------------------------------------------------

    def _on_message(self, message: Message) -> None:
        self._inbox.append(message)
        counters = self.counters
        counters.messages_received += 1
        counters.bytes_received += (
            len(message) if isinstance(message, bytes) else len(message.encode())
        )
        waiter = self._recv_waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def recv(self) -> Message:
        """The next message, in order. Raises `ChannelClosedError` once the pipe is
        closed and every message received before that has been returned."""
        inbox = self._inbox
        while not inbox:
            if self._close_reason is not None:
                raise ChannelClosedError(self._close_reason)
            waiter = asyncio.get_running_loop().create_future()
            self._recv_waiter = waiter
            try:
                await waiter
            finally:
                self._recv_waiter = None
        return inbox.popleft()

    def __aiter__(self) -> DataPipe:
        return self

    async def __anext__(self) -> Message:
        try:
            return await self.recv()
        except ChannelClosedError:
            raise StopAsyncIteration from None

    # --- closing ------------------------------------------------------------------

    def _on_channel_close(self) -> None:
        self._mark_closed("the data channel was closed")

    def _on_connection_state(self) -> None:
        state = self._pc.connectionState
        if state in ("failed", "closed"):
            self._mark_closed(f"the peer connection is {state}")

    def _mark_closed(self, reason: str) -> None:
        if self._close_reason is not None:
            return
        logger.debug("data pipe closed: %s", reason)
        self._close_reason = reason
        for waiter in (self._recv_waiter, self._drain_waiter):
            if waiter is not None and not waiter.done():
                waiter.set_result(None)
        self.closed.set()

    async def close(self) -> None:
        """Close the channel and the peer connection (idempotent)."""
        self._mark_closed("closed locally")
        if self._closing is None:
            self._closing = asyncio.ensure_future(self._pc.close())
        await asyncio.shield(self._closing)

    async def __aenter__(self) -> DataPipe:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()


# --- setup -------------------------------------------------------------------------


def _to_candidate_sdp(line: str) -> str:
    text = line.strip()
    if text.startswith("a="):
        text = text[2:]
    if text.startswith("candidate:"):
        text = text[len("candidate:"):]
    return text


async def _apply_remote_candidates(
    pc: RTCPeerConnection, settings: IceSettings, exchange: SdpExchange
) -> None:
    """Feed trickled candidates to aiortc until end-of-candidates (or cancellation)."""
    async for line in exchange.remote_candidates():
        if line is None:
            await pc.addIceCandidate(None)
            return
        if not settings.accepts_remote_candidate(line):
            continue
        try:
            candidate = candidate_from_sdp(_to_candidate_sdp(line))
        except (AssertionError, ValueError, IndexError):
            logger.debug("ignoring malformed trickled candidate %r", line)
            continue
        candidate.sdpMLineIndex = 0  # one m-line: the data channel's
        await pc.addIceCandidate(candidate)


class _Setup:
    """What both setup paths share: the connection, failure watch, cleanup."""

    def __init__(
        self, settings: IceSettings, exchange: SdpExchange | None, role: str,
        options: PipeOptions,
    ) -> None:
        self.settings = settings
        self.exchange = exchange
        self.options = options
        self.timing = SetupTiming(role)
        self.pc = RTCPeerConnection(settings.to_rtc_configuration())
        self.failed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.candidates: asyncio.Task[None] | None = None
        self.pc.on("connectionstatechange", self._on_state)

    def _on_state(self) -> None:
        if self.pc.connectionState in ("failed", "closed") and not self.failed.done():
            self.failed.set_exception(
                ChannelSetupError(f"the peer connection {self.pc.connectionState} during setup")
            )

    async def set_local(self, description: RTCSessionDescription) -> str:
        if self.settings.local_only:
            with loopback_gathering():
                await self.pc.setLocalDescription(description)
        else:
            await self.pc.setLocalDescription(description)
        # gathering is over: every ICE socket exists (bursts must not overflow them)
        # the SCTP transport exists (the offerer's data channel, the answerer's offer) and
        # has sent no INIT: it advertises what these sockets hold
        install_receive_window(self.pc.sctp, receive_window_for(enlarge_receive_buffers(self.pc)))
        install_dtls_demux(ice_connection_of(self.pc))
        sdp = self.pc.localDescription.sdp
        if (readable := reads_whole()) is not None:
            sdp = with_max_packet(sdp, readable)
        self.settings.check_local_sdp(sdp)
        return sdp

    async def set_remote(self, sdp: str, kind: str) -> None:
        assert self.exchange is not None, "a prepared offer gets its exchange when used"
        filtered = self.settings.filter_remote_sdp(sdp)
        await self.pc.setRemoteDescription(RTCSessionDescription(sdp=filtered, type=kind))
        # The SCTP transport exists now and carries no DATA yet (DTLS starts later).
        install_delayed_ack(self.pc.sctp, self.options.ack_policy)
        install_tail_aware_reassembly(self.pc.sctp)
        install_lean_receive(self.pc.sctp)
        path_mtu = install_path_mtu(self.pc.sctp,
                                    probe_sizes(max_packet(sdp), self.options.probe_packets))
        if path_mtu is not None:
            path_mtu.hold()  # until the channel is open (`finish`)
        install_lean_transmit(self.pc.sctp)  # after the path-MTU adapter: it takes its size
        install_delay_control(self.pc.sctp)  # last of those that wrap the SACK handler
        install_eager_check_end(ice_connection_of(self.pc))
        install_direct_first(ice_connection_of(self.pc))
        install_patient_consent(ice_connection_of(self.pc))
        self.candidates = asyncio.ensure_future(
            _apply_remote_candidates(self.pc, self.settings, self.exchange)
        )
        self.candidates.add_done_callback(self._on_candidates_done)

    def _on_candidates_done(self, task: asyncio.Task[None]) -> None:
        # An error from the exchange (say, a candidate whose signature failed) fails setup.
        if task.cancelled() or self.failed.done():
            return
        exc = task.exception()
        if exc is not None:
            self.failed.set_exception(exc)

    async def until(self, waitable: asyncio.Future[DataPipe]) -> DataPipe:
        """Wait for `waitable`, failing early if the connection fails."""
        futures: set[asyncio.Future[Any]] = {waitable, self.failed}
        done, _ = await asyncio.wait(futures, return_when=asyncio.FIRST_COMPLETED)
        if waitable in done:
            return waitable.result()
        self.failed.result()  # raises ChannelSetupError
        raise AssertionError("unreachable")

    async def stop_candidates(self) -> None:
        task, self.candidates = self.candidates, None
        if task is None:
            return
        if not task.done():
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            try:
                await task
            except Exception as exc:  # reported through `failed` while setting up
                logger.debug("trickled candidates: %r", exc)

    def _settle_failed(self) -> None:
        if not self.failed.done():
            self.failed.cancel()
        elif not self.failed.cancelled():
            self.failed.exception()  # retrieved: no "never retrieved" warning

    def finish(self, pipe: DataPipe) -> DataPipe:
        self.pc.remove_listener("connectionstatechange", self._on_state)
        self._settle_failed()
        self.timing.opened = time.perf_counter()
        if (path_mtu := path_mtu_of(self.pc.sctp)) is not None:
            path_mtu.release()
        return pipe

    async def abort(self) -> None:
        await self.stop_candidates()
        self._settle_failed()
        await self.pc.close()


async def _run_setup(setup: _Setup, body: asyncio.Future[DataPipe], timeout: float) -> DataPipe:
    async def cleanup() -> None:
        body.cancel()
        with contextlib.suppress(BaseException):
            await body
        await setup.abort()

    try:
        async with asyncio.timeout(timeout):
            pipe = await setup.until(body)
    except TimeoutError:
        await cleanup()
        raise ChannelSetupTimeout(
            f"no data channel opened within {timeout:g} s as {setup.timing.role}"
        ) from None
    except (InvalidStateError, ValueError, ConnectionError) as exc:
        await cleanup()
        raise ChannelSetupError(f"setup failed as {setup.timing.role}: {exc}") from exc
    except BaseException:
        await cleanup()
        raise
    await setup.stop_candidates()
    return setup.finish(pipe)


class PreparedOffer:
    """An offerer's connection, data channel and local offer, made before the answerer
    asked for them (`prepare_offer`), so that ICE gathering overlaps the relay's round
    trip (#14). Used once by `open_as_offerer(..., prepared=)`, or closed."""

    def __init__(self, setup: _Setup, channel: RTCDataChannel, pipe: DataPipe, sdp: str) -> None:
        self._setup: _Setup | None = setup
        self._channel = channel
        self._pipe = pipe
        self.sdp = sdp
        """The local offer, candidates included."""
        self.settings = setup.settings
        """The ICE settings it was gathered with (an attempt with others cannot use it)."""
        self.options = setup.options
        self.created = time.monotonic()

    @property
    def usable(self) -> bool:
        """Not used nor closed, and its connection has not failed meanwhile."""
        setup = self._setup
        return (setup is not None and not setup.failed.done()
                and setup.pc.connectionState not in ("failed", "closed"))

    def _take(self) -> tuple[_Setup, RTCDataChannel, DataPipe, str]:
        setup, self._setup = self._setup, None
        if setup is None:
            raise ValueError("this prepared offer was used or closed already")
        return setup, self._channel, self._pipe, self.sdp

    async def close(self) -> None:
        """Release the connection (idempotent; a no-op once used)."""
        setup, self._setup = self._setup, None
        if setup is not None:
            await setup.abort()


async def prepare_offer(settings: IceSettings, options: PipeOptions | None = None
                        ) -> PreparedOffer:
    """The first half of `open_as_offerer`: connection, data channel, gathered offer."""
    options = options or PipeOptions()
    setup = _Setup(settings, None, "offerer", options)
    channel = setup.pc.createDataChannel(options.label, ordered=True)
    pipe = DataPipe(setup.pc, channel, options, setup.timing)
    try:
        sdp = await setup.set_local(await setup.pc.createOffer())
    except BaseException:
        await setup.abort()
        raise
    return PreparedOffer(setup, channel, pipe, sdp)


async def open_as_offerer(
    settings: IceSettings,
    exchange: SdpExchange,
    *,
    timeout: float = DEFAULT_SETUP_TIMEOUT,
    options: PipeOptions | None = None,
    prepared: PreparedOffer | None = None,
) -> DataPipe:
    """Create the data channel, send the offer, apply the answer, wait until open.

    With `prepared` (from `prepare_offer` with the same `settings` and options), its
    connection and offer are used instead of new ones. Raises `ChannelSetupTimeout`
    after `timeout` seconds, `ChannelSetupError` if the connection fails first, or
    whatever `exchange` raises (e.g. a refused signature).
    """
    options = options or PipeOptions()
    local_sdp: str | None = None
    if prepared is not None:
        if prepared.settings is not settings or prepared.options != options:
            raise ValueError("a prepared offer is used with the settings it was made with")
        setup, channel, pipe, local_sdp = prepared._take()
        setup.exchange = exchange
        setup.timing.started = time.perf_counter()  # setup counts from here, as without
    else:
        setup = _Setup(settings, exchange, "offerer", options)
        channel = setup.pc.createDataChannel(options.label, ordered=True)
        pipe = DataPipe(setup.pc, channel, options, setup.timing)

    async def body() -> DataPipe:
        opened: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        def on_open() -> None:
            if not opened.done():
                opened.set_result(None)

        channel.once("open", on_open)
        sdp = local_sdp
        if sdp is None:
            offer = await setup.pc.createOffer()
            sdp = await setup.set_local(offer)
        setup.timing.offer_at = time.perf_counter()
        await exchange.send_description(sdp, "offer")
        make_dtls_context_ahead(setup.pc)  # while the answer travels, not after ICE
        answer = await exchange.receive_description("answer")
        pipe._set_remote_description(answer)
        await setup.set_remote(answer, "answer")
        if channel.readyState != "open":
            await opened
        return pipe

    return await _run_setup(setup, asyncio.ensure_future(body()), timeout)


async def open_as_answerer(
    settings: IceSettings,
    exchange: SdpExchange,
    *,
    timeout: float = DEFAULT_SETUP_TIMEOUT,
    options: PipeOptions | None = None,
) -> DataPipe:
    """Wait for the offer, answer it, wait for the peer's data channel to open.

    Raises like `open_as_offerer`. Channels with another label are closed.
    """
    options = options or PipeOptions()
    setup = _Setup(settings, exchange, "answerer", options)
    arrived: asyncio.Future[DataPipe] = asyncio.get_running_loop().create_future()
    offer_sdp = ""

    def on_datachannel(channel: RTCDataChannel) -> None:
        if channel.label != options.label or arrived.done():
            logger.debug("closing unexpected data channel %r", channel.label)
            channel.close()
            return
        # Attach the pipe now, inside the event: messages may follow at once.
        pipe = DataPipe(setup.pc, channel, options, setup.timing)
        pipe._set_remote_description(offer_sdp)
        arrived.set_result(pipe)

    setup.pc.on("datachannel", on_datachannel)

    async def body() -> DataPipe:
        nonlocal offer_sdp
        offer_sdp = await exchange.receive_description("offer")
        setup.timing.offer_at = time.perf_counter()
        await setup.set_remote(offer_sdp, "offer")
        answer = await setup.pc.createAnswer()
        sdp = await setup.set_local(answer)
        await exchange.send_description(sdp, "answer")
        # while the answer travels, not after ICE (nor before the answer: the offer may
        # be waiting, #14)
        make_dtls_context_ahead(setup.pc)
        return await arrived

    try:
        return await _run_setup(setup, asyncio.ensure_future(body()), timeout)
    finally:
        setup.pc.remove_listener("datachannel", on_datachannel)
        if not arrived.done():
            arrived.cancel()
