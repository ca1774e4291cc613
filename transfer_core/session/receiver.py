"""The receiving side: peer to peer from a present sender, else from storage (S3).

    JOINING ──sender here──▶ CONNECTING ──open──▶ TRANSFERRING ──all held──▶ VERIFYING ──▶ DONE
       │                         ▲                    │                          ▲
       │                         └── RECONNECTING ◀───┘ break                    │
       │                                  │ sender gone past the grace,          │
       │ no sender                        ▼ or it said it is storing           │
       └───────────────────────────▶ FETCHING ──all held────────────────────────┘
                                                                          any ──▶ FAILED

Fetching takes only the records not yet held (whatever brought the others), so
a transfer may finish on a mix of both paths; while the sender is still in the
room (uploading) the receiver polls storage for its objects. When nothing is stored
but part of the file is already here (a re-run while the sender is stopped), the
receiver waits up to the grace for the sender to resume (`send --resume`), then
goes FETCHING ──sender back──▶ CONNECTING and on peer to peer.
"""

from __future__ import annotations

import asyncio
import logging
import time
from enum import Enum, auto
from pathlib import Path

from ..errors import DestinationExistsError, SGraphSendError, TruncatedTransferError
from ..protocol.keys import TransferKeys
from ..protocol.progress import Via
from ..protocol.tree import listing
from ..s3.errors import TransferExpiredError
from ..s3.http import HttpClient
from ..s3.issuer import RelayUrlIssuer
from ..signalling.client import PeerJoined, PeerLeft, RelayClosed, SignalClient, new_token
from ..signalling.control import report_download
from ..sink import PartialFile, work_dir_for
from ..timeouts import within
from ..transport.base import ReceiveTransport
from ..transport.s3 import S3ReceiveTransport
from ..transport.webrtc import WebRtcReceiveTransport
from ..webrtc.channel import DataPipe, open_as_answerer
from ..webrtc.errors import ChannelClosedError, ChannelSetupError
from ..webrtc.ice import IceSettings
from .base import PeerOptions, PeerSession, state_table
from .errors import AlreadyDoneError, EmptyRoomError, PeerGoneError
from .machine import StateMachine
from .receipt import Receipt, receiver_id
from .report import Reporter, TransferSummary, path_taken
from .signals import Attempt, SignalRouter
from .state import DoneRecord, DoneRecords

logger = logging.getLogger(__name__)


class ReceiverState(Enum):
    JOINING = auto()
    CONNECTING = auto()
    TRANSFERRING = auto()
    RECONNECTING = auto()
    FETCHING = auto()
    VERIFYING = auto()
    DONE = auto()
    FAILED = auto()


_R = ReceiverState
RECEIVER_MOVES = state_table({
    _R.JOINING: {_R.CONNECTING, _R.FETCHING},
    _R.CONNECTING: {_R.TRANSFERRING, _R.RECONNECTING},
    _R.TRANSFERRING: {_R.VERIFYING, _R.RECONNECTING},
    _R.RECONNECTING: {_R.CONNECTING, _R.FETCHING},
    _R.FETCHING: {_R.VERIFYING, _R.CONNECTING},
    _R.VERIFYING: {_R.DONE},
}, _R.FAILED)
STORAGE_POLL_SECONDS = 1.0
TOKEN_FILE = "token"


def receiver_token(work_dir: Path) -> str:
    """The token of an earlier run on this link (a restarted receiver takes its slot back),
    else a fresh one; written only once the work folder has something to keep."""
    try:
        return (work_dir / TOKEN_FILE).read_text().strip() or new_token()
    except OSError:
        return new_token()


class Receiver(PeerSession):
    """Receives one file from the sender of a room into `out_dir`."""

    role = "receiver"

    def __init__(self, keys: TransferKeys, out_dir: Path, token: str, options: PeerOptions,
                 reporter: Reporter | None = None, force: bool = False,
                 drop_after_bytes: int | None = None, http: HttpClient | None = None,
                 done_records: DoneRecords | None = None) -> None:
        super().__init__(keys, token, options,
                         StateMachine("receiver", _R.JOINING, RECEIVER_MOVES), reporter)
        self.out_dir = out_dir
        self.force = force
        self.work_dir = work_dir_for(out_dir, keys.room_id)
        self.partial: PartialFile | None = None
        self.attempts = 0
        self.setup_ms: float | None = None
        self.received_bytes = 0
        self._started: float | None = None
        self.http = http or HttpClient()
        self._sender_here = False
        self._waited_for_sender = False
        self._duplicate_bytes = 0
        self._ice: IceSettings | None = None
        self._began = 0.0
        self.done_records = done_records or DoneRecords()
        self._manifest_record: bytes | None = None
        self._sender_id: str | None = None
        """The sender's connection id, when it is known to be in the room."""
        self.receipt: Receipt | None = None
        """The receipt this receiver sent, once the file is verified (#15)."""
        # fault injection for tests and the demo: close the channel once, mid-way
        self._drop_after = drop_after_bytes

    async def run(self) -> TransferSummary:
        done = self.done_records.get(self.keys.room_id, "receiver")
        # done here means saved into this folder: another receiver of the same link on
        # this machine (`send --receivers N`, #15) saving elsewhere is not this one
        if (done is not None and done.destination and Path(done.destination).exists()
                and Path(done.destination).parent == self.out_dir.resolve()):
            raise AlreadyDoneError(done)
        began = time.perf_counter()  # setup is measured from here: relay, ICE, DTLS
        ahead: list[Attempt] = []

        async def ready_ahead(client: SignalClient) -> None:
            # the `ready` follows the `hello` at once, not a round trip later (#14): the
            # relay hands it to the sender, if there is one (else: `no-peer`, unused)
            self.router = SignalRouter(client, self.keys.signal_key, "receiver")
            ahead.append(self.router.attempt_ahead())
            await self.router.send(ahead[0], "ready", receiver_id(self.token))

        try:
            client, welcome, ice = await self._connect(first=ready_ahead)
        except BaseException:
            if self.router is not None:
                await self.router.close()
            raise
        self._ice, self._began = ice, began
        assert self.router is not None
        try:
            senders = [p for p in welcome.peers if p.role == "sender"]
            self._sender_here = bool(senders)
            self._sender_id = senders[0].id if senders else None
            if not senders:
                if not self.options.storage:
                    raise EmptyRoomError(
                        "nobody is sending on this link: the sender has closed it or not started"
                    )
                self.machine.move(_R.FETCHING)
                return await self._downloaded(await self._fetch(client))
            # a `ready` the relay found nobody for (the sender joined right after it) is
            # sent again, with `to`, by a new attempt
            first = (None if self.router.ahead_lost
                     else self.router.adopt(ahead[0], senders[0].id))
            return await self._downloaded(
                await self._loop(self.router, ice, senders[0].id, began, client, first))
        except BaseException:
            self._fail()
            raise
        finally:
            await self._close_relay(client)
            if self.partial is not None:
                self.partial.close()

    async def _downloaded(self, summary: TransferSummary) -> TransferSummary:
        """Tell the relay a stored transfer was downloaded (counts against `--downloads`).

        Only a receive that read stored records downloads the stored file: one that came
        wholly peer to peer consumed nothing stored, and saying so would cost the
        backend a round trip for nothing (#10 §6).
        """
        if summary.chunks.get(Via.S3.value):
            await report_download(self._relay_request)
        return summary

    async def _loop(
        self, router: SignalRouter, ice: IceSettings, sender_id: str, began: float,
        client: SignalClient, ready_sent: Attempt | None = None,
    ) -> TransferSummary:
        """Attempts with the sender until the file is here; `ready_sent`: the first
        attempt, whose `ready` already left with the `hello`."""
        while True:
            last_heard: float | None = None
            self._sender_id = sender_id
            self.machine.move(_R.CONNECTING)
            self.attempts += 1
            self.reporter.status("connecting to the sender")
            if self.attempts > 1:  # after a break the relay may be gone too
                await self._ensure_relay()
            if ready_sent is not None:
                attempt, ready_sent = ready_sent, None
            else:
                attempt = router.attempt(sender_id)
                ice = self._ice = await self._ice_for_attempt(ice)
                await router.send(attempt, "ready", receiver_id(self.token))
            try:
                pipe = await self._race(
                    open_as_answerer(ice, attempt, timeout=self.options.connect_timeout)
                )
            except ChannelSetupError as exc:
                logger.info("connection attempt failed: %s", exc)
            else:
                if self.setup_ms is None:
                    self.setup_ms = (time.perf_counter() - began) * 1000
                self._note_route(pipe)
                self.machine.move(_R.TRANSFERRING)
                # a killed sender's WebSocket closes at once, its ICE consent only after
                # seconds: the relay's peer-left closes the channel now (and is kept for
                # `_sender_back`, which reads it)
                # (a lost relay does not: the channel carries on without it)
                watch = asyncio.create_task(self._peer_left())

                def departed(task: asyncio.Task[PeerLeft], pipe: DataPipe = pipe) -> None:
                    if not task.cancelled() and task.exception() is None:
                        router.departures.put_nowait(task.result())
                        asyncio.ensure_future(pipe.close())

                watch.add_done_callback(departed)
                transport = WebRtcReceiveTransport(
                    pipe, None if self._drop_after is None
                    else self._drop_after - self.received_bytes,
                    silence=self.options.silence_timeout, pace=self.pace,
                )
                try:
                    dest = await self._receive(transport)
                    return self._summary(dest)
                except ChannelClosedError as exc:
                    logger.info("connection lost: %s", exc)
                    last_heard = transport.last_heard
                finally:
                    watch.cancel()
                    self.received_bytes += transport.received_bytes
                    if transport.drop_after_bytes is None:
                        self._drop_after = None
                    await transport.close()
            self.machine.move(_R.RECONNECTING)
            self.reporter.status("connection lost; reconnecting")
            back = await self._sender_back(router, sender_id, last_heard)
            if back is None:
                self.machine.move(_R.FETCHING)
                return await self._fetch(client)
            sender_id = back

    async def _sender_back(self, router: SignalRouter, sender_id: str,
                           since: float | None = None) -> str | None:
        """After a break: the sender's id if it is still here or returns; None: use storage.
        The grace counts from `since` (the sender's last word), else from now."""
        since = time.monotonic() if since is None else since
        left = False
        while not router.departures.empty():
            event = router.departures.get_nowait()
            if isinstance(event, RelayClosed):
                self._relay_lost()
            elif event.peer.role == "sender":
                left = True
        if not router.relay_up.is_set():
            # the channel broke too: wait a little for the relay, then give up
            try:
                await within(router.relay_up.wait(), self.options.reconnect_grace)
            except TimeoutError:
                raise PeerGoneError(
                    "the connection to the signalling server was lost, and the direct"
                    " connection too"
                ) from None
        if router.storing.is_set() and self.options.storage:
            return None
        if not left:
            return sender_id
        self._sender_here = False
        self.reporter.status("the sender left; waiting for it to come back")
        self._waited_for_sender = True
        deadline = since + self.options.reconnect_grace
        while (remaining := deadline - time.monotonic()) > 0:
            try:
                joined = await self._race(router.arrivals.get(), remaining,
                                          "the sender did not come back in time")
            except PeerGoneError:
                break
            if joined.peer.role == "sender":
                self._sender_here = True
                return joined.peer.id
        if self.options.storage:
            return None
        raise PeerGoneError("the sender did not come back in time")

    async def _wait_for_sender(self) -> str | None:
        """The sender's id once it is back (within the grace, once per run); else None."""
        assert self.router is not None
        if self._waited_for_sender:
            return None
        self._waited_for_sender = True
        self.reporter.status(
            "part of this file is here and the sender is away: waiting for it to resume"
            f" (up to {self.options.reconnect_grace:g} s; the sender runs"
            " sgraph-send send FILE --resume LINK)"
        )
        deadline = time.monotonic() + self.options.reconnect_grace
        while (remaining := deadline - time.monotonic()) > 0:
            try:
                joined = await self._race(self.router.arrivals.get(), remaining,
                                          "the sender did not come back in time")
            except PeerGoneError:
                return None
            if joined.peer.role == "sender":
                self._sender_here = True
                return joined.peer.id
        return None

    async def _resume_direct(self, sender_id: str, client: SignalClient) -> TransferSummary:
        assert self.router is not None and self._ice is not None
        return await self._loop(self.router, self._ice, sender_id, self._began, client)

    # --- storage -------------------------------------------------------------------------

    def _track_sender(self) -> None:
        """Drain the router's arrivals and departures into `_sender_here`."""
        assert self.router is not None
        while not self.router.departures.empty():
            event = self.router.departures.get_nowait()
            if isinstance(event, RelayClosed):
                raise PeerGoneError("the connection to the signalling server was lost")
            if event.peer.role == "sender":
                self._sender_here = False
        while not self.router.arrivals.empty():
            joined: PeerJoined = self.router.arrivals.get_nowait()
            if joined.peer.role == "sender":
                self._sender_here = True
                self._sender_id = joined.peer.id

    async def _fetch(self, client: SignalClient) -> TransferSummary:
        """Take every record not yet held from storage; wait while the sender is uploading."""
        issuer = RelayUrlIssuer(self._relay_request)
        self.reporter.status("fetching from storage (S3)")
        announced = False
        while True:
            self._track_sender()
            try:
                stored = await issuer.download()
            except TransferExpiredError:
                if self._sender_here:
                    if not announced:
                        self.reporter.status("the sender is storing the file; waiting for it")
                        announced = True
                    await asyncio.sleep(STORAGE_POLL_SECONDS)
                    continue
                if self.partial is not None or (self.work_dir / "manifest.rec").exists():
                    # part of this transfer is here and nothing is stored: the sender was
                    # stopped; wait for it to resume, as for a sender that left mid-way
                    sender_id = await self._wait_for_sender()
                    if sender_id is not None:  # FETCHING -> CONNECTING: peer to peer again
                        return await self._resume_direct(sender_id, client)
                    raise PeerGoneError(
                        "the sender left before storing the rest of the file; what arrived is"
                        " kept. Run receive again once the sender has resumed"
                        " (sgraph-send send --resume)"
                    ) from None
                raise
            transport = S3ReceiveTransport(stored, self.http)
            try:
                partial = await self._take(transport)
            finally:
                await transport.close()
            layout = partial.manifest.layout
            if partial.complete:
                break
            self._track_sender()
            if not self._sender_here:
                missing = partial.missing()
                raise TruncatedTransferError(
                    f"{len(missing)} records are neither here nor in storage, and the sender"
                    " has left; what arrived is kept. Run receive again once the sender has"
                    " resumed (sgraph-send send --resume)"
                )
            if not announced:
                self.reporter.status("the sender is storing the rest; waiting for it")
                announced = True
            await asyncio.sleep(STORAGE_POLL_SECONDS)
        self.reporter.progress(layout.size, layout.size)
        self.machine.move(_R.VERIFYING)
        self.reporter.status("verifying the whole file's SHA-256")
        final = await asyncio.to_thread(partial.finalize, self.out_dir, self.force)
        await self._send_receipt(partial)
        self.machine.move(_R.DONE)
        return self._summary(final)

    async def _take(self, transport: ReceiveTransport) -> PartialFile:
        """Open (or take up again) the partial file for the transport's manifest, tell the
        far side what it holds, and accept records until it is complete or the
        transport has nothing more."""
        manifest = await transport.manifest()
        if self.partial is not None:
            self._duplicate_bytes += self.partial.duplicate_bytes
            self.partial.close()
        self.partial = partial = await asyncio.to_thread(  # progress written off the loop
            PartialFile.open, self.work_dir, self.keys.file_key, manifest, True
        )
        self._manifest_record = manifest
        token = self.work_dir / TOKEN_FILE
        if not token.exists():  # the work folder exists now: a restart takes its slot back
            token.write_text(self.token)
        show = getattr(self.reporter, "manifest", None)  # optional: the CLI's entry display
        if show is not None:
            show(partial.manifest)
        dest = partial.conflict(self.out_dir)
        if dest is not None and not self.force:
            await transport.refuse("exists", "the receiver already has a file of that name")
            raise DestinationExistsError(f"{dest} exists; pass --force to overwrite it")
        await transport.announce(partial.progress.held)
        if transport.via is Via.P2P:
            self.reporter.status(f"receiving {partial.manifest.name} directly, peer to peer")
        if self._started is None:
            self._started = time.perf_counter()
        await transport.receive(partial, self.reporter.progress)
        return partial

    async def _receive(self, transport: ReceiveTransport) -> Path:
        """Peer to peer: take every record, verify the file, then say `done`."""
        partial = await self._take(transport)
        layout = partial.manifest.layout
        self.reporter.progress(layout.size, layout.size)
        self.machine.move(_R.VERIFYING)
        self.reporter.status("verifying the whole file's SHA-256")
        final = await asyncio.to_thread(partial.finalize, self.out_dir, self.force)
        # the receipt rides in `done`, over the channel the sender is reading anyway
        receipt = self._receipt(partial)
        await transport.finish(receipt.to_payload(self.keys.signal_key))
        self.receipt = receipt
        self.machine.move(_R.DONE)
        return final

    def _receipt(self, partial: PartialFile) -> Receipt:
        assert self._manifest_record is not None
        layout = partial.manifest.layout
        return Receipt.for_transfer(
            receiver_id(self.token), self._manifest_record, layout.count, layout.size,
            path_taken(partial.progress.counts()))

    async def _send_receipt(self, partial: PartialFile) -> None:
        """Tell the sender, signed, that the whole file is here and verified, after a
        receive that ended in storage (best effort, through the relay: a sender that
        has left after storing the file does not hear it)."""
        assert self.router is not None
        receipt = self._receipt(partial)
        if self._sender_id is None or not self._sender_here:
            logger.info("the sender is not in the room: the receipt is not sent")
            return
        try:  # to the sender alone: the other receivers of the room have no use for it
            await self.router.client.signal(receipt.to_payload(self.keys.signal_key),
                                            to=self._sender_id)
        except (SGraphSendError, OSError) as exc:
            logger.info("the receipt did not reach the relay: %s", exc)
            return
        self.receipt = receipt

    def _summary(self, dest: Path) -> TransferSummary:
        assert self.partial is not None
        manifest = self.partial.manifest
        chunks = self.partial.progress.counts()
        self.done_records.save(self.keys.room_id,
                               DoneRecord("receiver", dest.name, str(dest.resolve())))
        return TransferSummary(
            role="receiver", name=dest.name, size=manifest.size,
            seconds=time.perf_counter() - (self._started or time.perf_counter()),
            path=path_taken(chunks), chunks=chunks, sha256_verified=True,
            resent_bytes=self._duplicate_bytes + self.partial.duplicate_bytes,
            reconnects=self.attempts - 1, setup_ms=self.setup_ms, destination=str(dest),
            route=self.route, entries=listing(manifest),
            receipts=[self.receipt.to_json()] if self.receipt is not None else None,
        )
