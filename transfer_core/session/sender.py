"""The sending side: peer to peer when the receiver is there, storage (S3) when not.

    WAITING ──ready──▶ CONNECTING ──open──▶ TRANSFERRING ──done──▶ DONE
       ▲ │                 │                     │
       │ │                 └──▶ RECONNECTING ◀───┘ break
       │ │                          │
       └─┼──────────────────────────┘
         └── no channel by the deadline ──▶ UPLOADING ──stored──▶ STORED
                                               │              any ──▶ FAILED
                the receiver came online ──────┘──▶ CONNECTING (the upload stops)

The deadline is `p2p_timeout` from the start, and `reconnect_grace` from a
break. Stored is only what the receiver did not hold by its last `have`
(records `first missing … count-1`, docs/protocol.md §10); the receiver takes
the rest from storage on its next `receive`. A receiver that comes online while
the sender is still uploading stops the upload: the rest goes peer to peer (#15 §3;
a records object is readable only once complete, so nothing half-stored could serve
it, and the parts S3 already holds are kept: if the channel breaks again, the upload
resumes from them). The manifest and that last `have`
are kept on disk (`state.SendState`) so `send --resume` can finish a transfer
whose sender was stopped.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from enum import Enum, auto
from pathlib import Path
from typing import Any

from ..protocol.keys import TransferKeys
from ..protocol.progress import Via
from ..protocol.ranges import RangeSet
from ..protocol.tree import listing
from ..s3.http import HttpClient
from ..s3.issuer import RelayUrlIssuer
from ..signalling.client import PeerJoined
from ..signalling.control import apply_limits
from ..signalling.envelope import SignedMessage, new_nonce
from ..source import FileSource
from ..transport.base import SendTransport
from ..transport.s3 import S3SendTransport
from ..transport.webrtc import WebRtcSendTransport
from ..tree_source import TreeSource, open_source, resume_source
from ..webrtc.channel import PREFERRED_RECORD_SIZE, open_as_offerer, record_size_for
from ..webrtc.errors import ChannelClosedError, ChannelSetupError
from ..webrtc.ice import IceSettings
from ..webrtc.offer_ahead import OfferAhead
from .base import PeerOptions, PeerSession, state_table
from .errors import AlreadyDoneError, PeerGoneError, SessionError
from .machine import StateMachine
from .receipt import ReceiptBox
from .report import Reporter, TransferSummary, path_taken
from .signals import Ready, SignalRouter
from .state import DoneRecord, DoneRecords, SendState

logger = logging.getLogger(__name__)

HELD_SAVE_SECONDS = 0.5


class SenderState(Enum):
    WAITING = auto()
    CONNECTING = auto()
    TRANSFERRING = auto()
    RECONNECTING = auto()
    UPLOADING = auto()
    DONE = auto()
    STORED = auto()
    FAILED = auto()


_S = SenderState
SENDER_MOVES = state_table({
    _S.WAITING: {_S.CONNECTING, _S.UPLOADING},
    _S.CONNECTING: {_S.TRANSFERRING, _S.RECONNECTING},
    _S.TRANSFERRING: {_S.DONE, _S.RECONNECTING},
    _S.RECONNECTING: {_S.WAITING},
    _S.UPLOADING: {_S.STORED, _S.CONNECTING},
}, _S.FAILED)


class NothingToResumeError(SessionError):
    """`send --resume` found no earlier transfer of this link on this machine or in storage."""


class Sender(PeerSession):
    """Sends one file to the receiver of a room: directly if it can, through storage if not."""

    role = "sender"

    def __init__(self, path: Path | list[Path], keys: TransferKeys, token: str,
                 options: PeerOptions,
                 reporter: Reporter | None = None,
                 preferred_record_size: int = PREFERRED_RECORD_SIZE,
                 resume: bool = False, state: SendState | None = None,
                 http: HttpClient | None = None) -> None:
        super().__init__(keys, token, options, StateMachine("sender", _S.WAITING, SENDER_MOVES),
                         reporter)
        self.path = path
        self.paths = path if isinstance(path, list) else [path]
        """What is sent: one file (a version-1 manifest), or several files and folders."""
        self.preferred_record_size = preferred_record_size
        self.resume = resume
        self.state = state or SendState(keys.room_id)
        self.done_records = DoneRecords(self.state.dir.parent)
        self.http = http or HttpClient()
        self.source: FileSource | TreeSource | None = None
        self.sent = RangeSet(0)
        self.held = RangeSet(0)
        """What the receiver said it holds (its last `have`)."""
        self.resent_bytes = 0
        self.window_bytes: int | None = None
        """The largest flow-control window a connection reached (`TransferSummary`)."""
        self.attempts = 0
        self.setup_ms: float | None = None
        self._started: float | None = None
        self._issuer: RelayUrlIssuer | None = None
        self._held_saved_at = 0.0
        self.upload_stopped = False
        """The receiver came online while the file was being stored (#15 §3)."""
        self._offers = OfferAhead()
        """An offer made when a receiver arrives, before its `ready` (#14)."""
        self._ice_now: IceSettings | None = None

    async def run(self) -> TransferSummary:
        if self.resume and (done := self.done_records.get(self.keys.room_id, "sender")):
            raise AlreadyDoneError(done)
        client, _, ice = await self._connect()
        self.router = SignalRouter(client, self.keys.signal_key, "sender")
        # the offer is made before a receiver asks for it: now, and again on a receiver's
        # arrival if this one is stale by then (#14, webrtc/offer_ahead.py)
        self._ice_now = ice
        self._offers.prepare(ice)
        self.router.on_arrival = self._receiver_arrives
        self._issuer = RelayUrlIssuer(self._relay_request)
        try:
            if self.options.limits is not None:  # at once: a refused limit fails early
                await apply_limits(self._relay_request, self.options.limits)
            if self.resume:
                await self._resume_source()
            self.reporter.status("waiting for the receiver to open the link")
            return await self._loop(self.router, ice)
        except BaseException:
            self._fail()
            raise
        finally:
            await self._offers.aclose()
            await self._close_relay(client)
            if self.source is not None:
                self.source.close()

    def _receiver_arrives(self, joined: PeerJoined) -> None:
        # only while no attempt connects or sends: a 2.3 receiver's `ready` may come before
        # its `peer-joined` (protocol.md Revision 2.3), and its attempt took the offer made
        if (joined.peer.role == "receiver" and self._ice_now is not None
                and self.machine.state in (_S.WAITING, _S.RECONNECTING, _S.UPLOADING)):
            self._offers.refresh(self._ice_now)

    async def _loop(self, router: SignalRouter, ice: IceSettings) -> TransferSummary:
        deadline = time.monotonic() + self.options.p2p_timeout
        while True:
            if self.attempts:  # after a break the relay may be gone too
                await self._ensure_relay()
            remaining = deadline - time.monotonic()
            try:
                if remaining <= 0 and self.options.storage:
                    # past the deadline a queued ready must not start yet another attempt:
                    # a receiver retrying as often as the attempts fail kept one queued
                    raise PeerGoneError("the receiver did not come in time")
                if not self.options.storage and self.attempts == 0:
                    ready = await self._race(router.readies.get())
                else:
                    ready = await self._race(router.readies.get(), max(remaining, 0.001),
                                             "the receiver did not come back in time")
            except PeerGoneError:
                if not self.options.storage:
                    raise
                stored = await self._store(router)
                if isinstance(stored, TransferSummary):
                    return stored
                ready = stored  # the receiver came online while we stored: directly now
            while not router.readies.empty():  # earlier readies answer spent attempts
                ready = router.readies.get_nowait()
            self.machine.move(_S.CONNECTING)
            self.attempts += 1
            attempt = router.attempt(ready.peer_id, ready.nonce)
            ice = self._ice_now = await self._ice_for_attempt(ice)
            started = time.perf_counter()
            try:
                prepared = await self._offers.take(ice)
                try:
                    pipe = await self._race(
                        open_as_offerer(ice, attempt, timeout=self.options.connect_timeout,
                                        prepared=prepared)
                    )
                finally:
                    if prepared is not None:  # a no-op once the attempt took it
                        await prepared.close()
            except ChannelSetupError as exc:
                logger.info("connection attempt failed: %s", exc)
            else:
                if self.setup_ms is None:
                    self.setup_ms = (time.perf_counter() - started) * 1000
                self._note_route(pipe)
                self.machine.move(_S.TRANSFERRING)
                # the source first: `sent` (shared by every connection) is sized by it
                try:
                    await self._open_source(
                        record_size_for(pipe.max_message_size, self.preferred_record_size)
                    )
                except BaseException:
                    await pipe.close()
                    raise
                transport = WebRtcSendTransport(pipe, self.sent, self._note_held,
                                                silence=self.options.silence_timeout,
                                                pace=self.pace)
                # the relay tells us at once when the receiver's process goes away; ICE
                # would take far longer to notice, so a departure closes the channel now
                # (a lost relay does not: the channel carries on without it)
                watch = asyncio.create_task(self._peer_left())
                watch.add_done_callback(transport.close_soon)
                delivered = False
                try:
                    delivered = await self._transfer(transport)
                except ChannelClosedError as exc:
                    logger.info("connection lost: %s", exc)
                finally:
                    watch.cancel()
                    # counted before the summary is made: this connection's re-sent bytes
                    # are those of the records a restarted receiver lacked
                    self.resent_bytes += transport.resent_bytes
                    self.window_bytes = max(self.window_bytes or 0, transport.window.limit)
                    await transport.close()
                if delivered:
                    self.machine.move(_S.DONE)
                    self.state.clear()
                    summary = self._summary()
                    self.done_records.save(self.keys.room_id, DoneRecord("sender", summary.name))
                    await self._take_receipts(summary, transport.receipt)
                    return summary
                self.state.save_held(self.held)
                self.reporter.status("connection lost; waiting for the receiver to come back")
                # from the receiver's last word: a silent receiver has used up part of it
                deadline = transport.last_heard + self.options.reconnect_grace
            self.machine.move(_S.RECONNECTING)
            self.machine.move(_S.WAITING)

    # --- the source and its saved state ------------------------------------------

    async def _resume_source(self) -> None:
        record = self.state.manifest()
        if record is None:
            record = await self._stored_manifest()
        self.source = await asyncio.to_thread(
            resume_source, self.paths, self.keys.file_key, record
        )
        self._adopt(self.source)
        self._show_source(self.source)
        self.held = self.state.held(self.source.layout.count)
        self.reporter.status(
            f"resuming: the receiver held {len(self.held)} of {self.source.layout.count} records"
        )

    async def _stored_manifest(self) -> bytes:
        assert self._issuer is not None
        try:
            stored = await self._issuer.download()
        except SessionError:
            raise
        except Exception as exc:
            raise NothingToResumeError(
                "nothing to resume for this link: no saved state here and nothing stored"
                f" ({exc})"
            ) from None
        return await asyncio.to_thread(self.http.get, stored.manifest_url)

    def _adopt(self, source: FileSource | TreeSource) -> None:
        self.state.save_manifest(source.manifest_record)
        count = source.layout.count
        self.sent = RangeSet(count)
        if self.held.universe != count:
            self.held = RangeSet(count)

    async def _open_source(self, record_size: int) -> FileSource | TreeSource:
        if self.source is None:
            self.source = await asyncio.to_thread(
                open_source, self.paths, self.keys.file_key, record_size
            )
            self._show_source(self.source)
            self._adopt(self.source)
        return self.source

    # --- sending, through either transport ------------------------------------------

    async def _transfer(self, transport: SendTransport) -> bool:
        """Send what the far side lacks; True once it has everything, False if it stopped."""
        max_record = transport.max_record_size
        source = await self._open_source(
            self.preferred_record_size if max_record is None
            else record_size_for(max_record, self.preferred_record_size)
        )
        held = await transport.begin(source)
        if transport.via is Via.P2P:
            self.reporter.status("connected: sending directly, peer to peer")
        if self._started is None:
            self._started = time.perf_counter()
        return await transport.send(source, held, self.reporter.progress)

    def _show_source(self, source: FileSource | TreeSource) -> None:
        show = getattr(self.reporter, "manifest", None)  # optional: the CLI's entry display
        if show is not None:
            show(source.manifest)

    def _note_held(self, held: RangeSet) -> None:
        if held.universe == self.held.universe:
            self.held = held
            # a `have` comes every few records; a saved one only lets `send --resume`
            # store less, so saving an older one (more stored) is always safe
            now = time.monotonic()
            if now - self._held_saved_at >= HELD_SAVE_SECONDS:
                self._held_saved_at = now
                self.state.save_held(held)

    # --- storage -------------------------------------------------------------------------

    async def _store(self, router: SignalRouter) -> TransferSummary | Ready:
        """Store what the receiver lacks; it fetches that on its next `receive`. A `ready`
        while uploading (the receiver came online) stops the upload and is returned."""
        self.machine.move(_S.UPLOADING)
        assert self._issuer is not None
        source = await self._open_source(self.preferred_record_size)
        missing = self.held.complement()
        self.reporter.status(
            "the receiver is not connected: storing the encrypted file for it to fetch"
            if not self.held else
            f"the direct connection did not come back: storing the {len(missing)} records"
            " the receiver lacks"
        )
        if self._started is None:
            self._started = time.perf_counter()
        with contextlib.suppress(Exception):  # a receiver still listening switches at once
            bye = SignedMessage("bye", "sender", new_nonce(), "", "storage")
            await router.client.signal(bye.to_payload(self.keys.signal_key))
        transport = S3SendTransport(self._issuer, self.http, self.held)
        retried = self.http.retried_bytes
        upload = asyncio.ensure_future(self._transfer(transport))
        # only a receiver that was absent "comes online": one whose direct attempts
        # failed (a path that drops everything but signalling) keeps sending `ready`,
        # and switching back for it would never let the upload finish
        arrival: asyncio.Future[Ready] = (
            asyncio.ensure_future(router.readies.get()) if self.attempts == 0
            else asyncio.get_running_loop().create_future()
        )
        try:
            either: set[asyncio.Future[Any]] = {upload, arrival}
            await self._race(asyncio.wait(either, return_when=asyncio.FIRST_COMPLETED))
            if arrival.done() and not upload.done():
                upload.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await upload
                self.upload_stopped = True
                self.reporter.status("the receiver came online: the upload stops, the rest"
                                     " goes directly")
                return arrival.result()
            await upload
        finally:
            for task in (upload, arrival):
                task.cancel()
            self.resent_bytes += self.http.retried_bytes - retried  # parts sent again
            await transport.close()
        stored = transport.stored
        assert stored is not None and self._started is not None
        self.machine.move(_S.STORED)
        self.state.clear()
        chunks = {"p2p": len(self.held), "s3": stored.records}
        return TransferSummary(
            role="sender", name=source.manifest.name, size=source.manifest.size,
            seconds=time.perf_counter() - self._started, path=path_taken(chunks),
            chunks=chunks, sha256_verified=False, resent_bytes=self.resent_bytes,
            window_bytes=self.window_bytes,
            reconnects=max(0, self.attempts - 1), setup_ms=self.setup_ms,
            stored_until=stored.stored_until, route=self.route, packet_size=self.packet_size,
            entries=listing(source.manifest),
        )

    async def _take_receipts(self, summary: TransferSummary,
                             in_done: dict[str, Any] | None) -> None:
        """The receiver's signed receipt: in its `done` (session.control); through the
        relay, within a round trip, from an older receiver that sent it there."""
        assert self.router is not None and self.source is not None
        box = ReceiptBox(self.keys.signal_key, self.source.manifest_record)
        if in_done is not None:
            box.offer(in_done, in_done=True)
        await box.gather(self.router.receipts, 1)
        await self._report_direct(box)
        summary.receipts = [r.to_json() for r in box.verified.values()]

    def _summary(self) -> TransferSummary:
        assert self.source is not None
        chunks = {"p2p": self.source.layout.count}
        return TransferSummary(
            role="sender", name=self.source.manifest.name, size=self.source.manifest.size,
            seconds=time.perf_counter() - (self._started or time.perf_counter()),
            path=path_taken(chunks), chunks=chunks, sha256_verified=True,
            resent_bytes=self.resent_bytes, window_bytes=self.window_bytes,
            reconnects=self.attempts - 1, setup_ms=self.setup_ms,
            route=self.route, packet_size=self.packet_size, upload_stopped=self.upload_stopped,
            entries=listing(self.source.manifest),
        )

