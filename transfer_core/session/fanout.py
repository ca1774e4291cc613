"""One file, or a tree of files, to several receivers (`send --receivers N`, #15): a
channel for each, in parallel.

    SERVING ──every receiver delivered, or the rest stored──▶ DONE | STORED
                                                          any ──▶ FAILED

The sender holds one relay connection and one `SignalRouter`; each receiver that says
`ready` gets a `Lane`: the one-receiver `Sender`'s loop (connect, send, reconnect after
a break) over its own data channel, reading the same sealed records from the one
`FileSource` (one file) or `TreeSource` (several files or folders: each receiver gets
the whole tree, its manifest records first, as from the one-receiver sender). A receiver
is known by the name its `ready` carries (`receipt.receiver_id`, stable across its
reconnects), else by its connection id, and keeps its number (1…N, in order of arrival)
for the whole transfer.

Storage serves every receiver at once: when some of the N are not there by
`p2p_timeout`, or a lane's receiver breaks away past its grace, the whole file is
stored once (records `0 … count-1`, exactly the one-receiver layout) and every absent
receiver fetches it later with the same link. Lanes already sending carry on.

Once every lane has ended, the sender waits a moment for the receipts of the receivers
it delivered to (`receipt.ReceiptBox`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass, field
from enum import Enum, auto
from pathlib import Path
from typing import Any, Protocol

from ..protocol.keys import TransferKeys
from ..protocol.ranges import RangeSet
from ..s3.http import HttpClient
from ..s3.issuer import RelayUrlIssuer
from ..s3.upload import StoredSummary
from ..signalling.client import PeerLeft
from ..signalling.envelope import SignedMessage, new_nonce
from ..source import FileSource
from ..transport.s3 import S3SendTransport
from ..tree_source import TreeSource, open_source
from ..webrtc.channel import PREFERRED_RECORD_SIZE
from ..webrtc.ice import IceSettings
from .base import PeerOptions, PeerSession, state_table
from .errors import SessionError
from .machine import StateMachine
from .receipt import ReceiptBox
from .report import TransferSummary, path_taken
from .sender import Sender, SenderState
from .signals import Attempt, Ready, SignalRouter

logger = logging.getLogger(__name__)

__all__ = ["FanOutReporter", "FanOutSender", "TooManyReceiversError"]


class TooManyReceiversError(SessionError):
    """`--receivers N` over what the relay allows a room (its `maxReceivers`)."""


class FanOutReporter(Protocol):
    """Progress of each receiver by its number (0: the upload to storage)."""

    def lane_status(self, number: int, text: str) -> None: ...

    def lane_progress(self, number: int, done: int, total: int) -> None: ...


class _LaneReporter:
    """A lane's `Reporter`: its words and bytes, tagged with its receiver number."""

    def __init__(self, owner: FanOutReporter | None, number: int) -> None:
        self.owner = owner
        self.number = number

    def status(self, text: str) -> None:
        if self.owner is not None:
            self.owner.lane_status(self.number, text)

    def progress(self, done: int, total: int) -> None:
        if self.owner is not None:
            self.owner.lane_progress(self.number, done, total)


class FanOutState(Enum):
    SERVING = auto()
    DONE = auto()
    STORED = auto()
    FAILED = auto()


_F = FanOutState
FANOUT_MOVES = state_table({_F.SERVING: {_F.DONE, _F.STORED}}, _F.FAILED)


class _NoState:
    """Lanes keep no resumable state: `--receivers` and `--resume` do not mix."""

    def __init__(self, root: Path) -> None:
        self.dir = root

    def save_manifest(self, record: bytes) -> None:
        pass

    def save_held(self, held: RangeSet) -> None:
        pass

    def clear(self) -> None:
        pass


class _NoDoneRecords:
    def save(self, *_: object) -> None:
        pass


class LaneRouter:
    """What one lane sees of the shared router: its receiver's readies and departures."""

    peer_role = "receiver"

    def __init__(self, main: SignalRouter) -> None:
        self.main = main
        self.readies: asyncio.Queue[Ready] = asyncio.Queue()
        self.departures: asyncio.Queue[PeerLeft] = asyncio.Queue()
        self.peer_ids: set[str] = set()
        """Every connection id this receiver has had (it gets a new one per reconnect)."""

    @property
    def client(self) -> Any:
        return self.main.client

    @property
    def refusal(self) -> asyncio.Future[Any]:
        return self.main.refusal

    @property
    def relay_up(self) -> asyncio.Event:
        return self.main.relay_up

    def attempt(self, peer_id: str, peer_nonce: str = "") -> Attempt:
        self.main.forget(self.peer_ids - {peer_id})
        self.peer_ids.add(peer_id)
        return self.main.attempt(peer_id, peer_nonce)


class Lane(Sender):
    """The one-receiver sender loop, serving receiver number `number` of a fan-out."""

    def __init__(self, owner: FanOutSender, number: int, key: str) -> None:
        super().__init__(owner.path, owner.keys, owner.token, owner.options,
                         _LaneReporter(owner.lane_reporter, number),
                         preferred_record_size=owner.preferred_record_size,
                         state=_NoState(owner.state_dir), http=owner.http)  # type: ignore[arg-type]
        self.owner = owner
        self.number = number
        self.key = key
        self.done_records = _NoDoneRecords()  # type: ignore[assignment]
        self.lane_router = LaneRouter(owner.main_router)
        self.router = self.lane_router  # type: ignore[assignment]
        self._issuer = owner.issuer
        source = owner.source
        assert source is not None
        self.source = source
        self.sent = RangeSet(source.layout.count)
        self.held = RangeSet(source.layout.count)
        self.stored: StoredSummary | None = None
        self.receipt_in_done: dict[str, Any] | None = None
        """The receipt in this receiver's `done`, unverified (the fan-out checks it)."""

    async def serve(self, ice: IceSettings) -> TransferSummary:
        try:
            return await self._loop(self.lane_router, ice)  # type: ignore[arg-type]
        except BaseException:
            self._fail()
            raise

    def _relay_lost(self) -> None:
        self.owner._relay_lost()

    async def _take_receipts(self, summary: TransferSummary,
                             in_done: dict[str, Any] | None) -> None:
        """The fan-out gathers every receiver's receipt at the end: keep this one's."""
        self.receipt_in_done = in_done

    async def _store(self, router: SignalRouter) -> TransferSummary:
        """This receiver is gone past its grace: it fetches the one stored copy."""
        self.machine.move(SenderState.UPLOADING)
        self.reporter.status("the receiver is away: it will fetch the stored copy")
        stored = await self.owner.store_once()
        assert self.source is not None
        self.machine.move(SenderState.STORED)
        chunks = {"p2p": len(self.held), "s3": self.source.layout.count - len(self.held)}
        return TransferSummary(
            role="sender", name=self.source.manifest.name, size=self.source.manifest.size,
            seconds=time.perf_counter() - (self._started or time.perf_counter()),
            path=path_taken(chunks), chunks=chunks, resent_bytes=self.resent_bytes,
            window_bytes=self.window_bytes,
            reconnects=max(0, self.attempts - 1), setup_ms=self.setup_ms,
            stored_until=stored.stored_until, route=self.route,
            packet_size=self.packet_size,
        )


@dataclass
class _Outcome:
    lane: Lane
    summary: TransferSummary | None = None
    error: BaseException | None = None
    extra: dict[str, Any] = field(default_factory=dict)


class FanOutSender(PeerSession):
    """Sends one file or a tree to up to `receivers` receivers of a room, each over its own
    channel."""

    role = "sender"

    def __init__(self, path: Path | list[Path], keys: TransferKeys, token: str,
                 options: PeerOptions, receivers: int, reporter: FanOutReporter | None = None,
                 preferred_record_size: int = PREFERRED_RECORD_SIZE,
                 http: HttpClient | None = None, state_dir: Path | None = None) -> None:
        super().__init__(keys, token, options, StateMachine("fan-out", _F.SERVING, FANOUT_MOVES),
                         _LaneReporter(reporter, 0))
        if receivers < 1:
            raise ValueError("receivers must be at least 1")
        self.path = path
        self.receivers = receivers
        self.lane_reporter = reporter
        self.preferred_record_size = preferred_record_size
        self.http = http or HttpClient()
        self.state_dir = state_dir or Path("/nonexistent-lane-state")
        self.source: FileSource | TreeSource | None = None
        self.issuer: RelayUrlIssuer | None = None
        self.lanes: dict[str, Lane] = {}
        """By the receiver's name (its `ready` data), else its first connection id."""
        self._by_peer: dict[str, Lane] = {}
        self._upload: asyncio.Future[StoredSummary] | None = None
        self._started = 0.0

    @property
    def main_router(self) -> SignalRouter:
        assert self.router is not None
        return self.router

    async def run(self) -> TransferSummary:
        client, welcome, ice = await self._connect()
        limit = welcome.limits.get("maxReceivers")
        try:
            if isinstance(limit, int) and self.receivers > limit:
                raise TooManyReceiversError(
                    f"this relay allows at most {limit} receiver{'s' if limit != 1 else ''}"
                    f" per link; asked for {self.receivers} (the stack's maxReceivers)"
                )
            self.router = SignalRouter(client, self.keys.signal_key, "sender")
            self.issuer = RelayUrlIssuer(self._relay_request)
            paths = self.path if isinstance(self.path, list) else [self.path]
            self.source = await asyncio.to_thread(
                open_source, paths, self.keys.file_key, self.preferred_record_size)
            self._started = time.perf_counter()
            self.reporter.status(f"waiting for {self.receivers} receivers to open the link")
            return await self._serve(ice)
        except BaseException:
            self._fail()
            raise
        finally:
            if self._upload is not None and not self._upload.done():
                self._upload.cancel()
            await self._close_relay(client)
            if self.source is not None:
                self.source.close()

    # --- serving the receivers ----------------------------------------------------

    async def _serve(self, ice: IceSettings) -> TransferSummary:
        router = self.main_router
        deadline = time.monotonic() + self.options.p2p_timeout
        tasks: dict[asyncio.Task[TransferSummary], Lane] = {}
        outcomes: list[_Outcome] = []
        readies = asyncio.ensure_future(router.readies.get())
        departures = asyncio.ensure_future(router.departures.get())
        try:
            while not self._finished(tasks, outcomes):
                waiting: set[asyncio.Future[Any]] = {readies, departures, *tasks}
                if self._upload is not None:
                    waiting.add(self._upload)
                timeout = None
                if self._upload is None and self.options.storage:
                    timeout = max(deadline - time.monotonic(), 0.0)
                await self._race(asyncio.wait(waiting, timeout=timeout,
                                              return_when=asyncio.FIRST_COMPLETED))
                if readies.done():
                    self._dispatch_ready(readies.result(), ice, tasks)
                    readies = asyncio.ensure_future(router.readies.get())
                if departures.done():
                    event = departures.result()
                    if isinstance(event, PeerLeft):
                        if (lane := self._by_peer.get(event.peer.id)) is not None:
                            lane.lane_router.departures.put_nowait(event)
                    else:
                        self._relay_lost()
                    departures = asyncio.ensure_future(router.departures.get())
                for task in [t for t in tasks if t.done()]:
                    lane = tasks.pop(task)
                    outcome = _Outcome(lane)
                    if task.cancelled():
                        outcome.error = asyncio.CancelledError()
                    elif (exc := task.exception()) is not None:
                        outcome.error = exc
                        lane.reporter.status(f"failed: {exc}")
                    else:
                        outcome.summary = task.result()
                    outcomes.append(outcome)
                if (self._upload is None and self.options.storage
                        and time.monotonic() >= deadline and len(self.lanes) < self.receivers):
                    absent = self.receivers - len(self.lanes)
                    self.reporter.status(
                        f"{absent} receiver{'s are' if absent != 1 else ' is'} not connected:"
                        " storing the encrypted file for them to fetch")
                    self._start_upload()
        finally:
            for pending in (readies, departures, *tasks):
                pending.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await pending
        stored = await self._upload if self._upload is not None else None
        return await self._summary(outcomes, stored)

    def _finished(self, tasks: dict[asyncio.Task[TransferSummary], Lane],
                  outcomes: list[_Outcome]) -> bool:
        if tasks:
            return False
        if len(outcomes) >= self.receivers:
            return True
        # the rest are absent: they fetch the stored copy (once it is complete)
        return self._upload is not None and self._upload.done()

    def _dispatch_ready(self, ready: Ready, ice: IceSettings,
                        tasks: dict[asyncio.Task[TransferSummary], Lane]) -> None:
        key = ready.who or ready.peer_id
        lane = self.lanes.get(key) or self._by_peer.get(ready.peer_id)
        if lane is None:
            if len(self.lanes) >= self.receivers:
                logger.info("a receiver beyond the %d asked for; not served", self.receivers)
                self.reporter.status(f"another receiver came, past the {self.receivers}"
                                     " asked for: not served")
                return
            lane = Lane(self, len(self.lanes) + 1, key)
            self.lanes[key] = lane
            lane.reporter.status("connected to the relay: connecting")
            tasks[asyncio.ensure_future(lane.serve(ice))] = lane
        elif lane not in tasks.values():
            logger.info("receiver %d is done; a new ready from it is ignored", lane.number)
            return
        self._by_peer[ready.peer_id] = lane
        lane.lane_router.readies.put_nowait(ready)

    # --- the one stored copy --------------------------------------------------------

    def _start_upload(self) -> asyncio.Future[StoredSummary]:
        if self._upload is None:
            self._upload = asyncio.ensure_future(self._store_all())
        return self._upload

    async def store_once(self) -> StoredSummary:
        """The whole file in storage, uploaded once whoever asks (every lane may)."""
        return await asyncio.shield(self._start_upload())

    async def _store_all(self) -> StoredSummary:
        assert self.issuer is not None and self.source is not None and self.router is not None
        with contextlib.suppress(Exception):  # receivers still listening switch at once
            bye = SignedMessage("bye", "sender", new_nonce(), "", "storage")
            await self.router.client.signal(bye.to_payload(self.keys.signal_key))
        nothing = RangeSet(self.source.layout.count)
        transport = S3SendTransport(self.issuer, self.http, nothing)
        try:
            await transport.begin(self.source)
            await transport.send(self.source, nothing, self.reporter.progress)
        finally:
            await transport.close()
        assert transport.stored is not None
        self.reporter.status("stored: absent receivers fetch it with the same link")
        return transport.stored

    # --- the end ------------------------------------------------------------------------

    async def _summary(self, outcomes: list[_Outcome],
                       stored: StoredSummary | None) -> TransferSummary:
        assert self.source is not None and self.router is not None
        delivered = [o.summary for o in outcomes
                     if o.summary is not None and o.summary.stored_until is None]
        if not delivered and stored is None:
            first = next((o.error for o in outcomes if o.error is not None), None)
            if first is not None:
                raise first
        box = ReceiptBox(self.keys.signal_key, self.source.manifest_record)
        for lane in self.lanes.values():
            if lane.receipt_in_done is not None:
                box.offer(lane.receipt_in_done, in_done=True)
        if delivered:
            self.reporter.status("waiting for the receivers' receipts")
            await box.gather(self.router.receipts, len(delivered))
            await self._report_direct(box)
        numbers = {lane.key: lane.number for lane in self.lanes.values()}
        receipts = []
        for receipt in box.verified.values():
            # a receiver that named itself has its number; one that did not (an older
            # client) is matched to no lane, and is listed without one
            receipts.append({"receiver_number": numbers.get(receipt.receiver),
                             **receipt.to_json()})
        receivers = [self._lane_entry(o) for o in sorted(outcomes, key=lambda o: o.lane.number)]
        for number in range(len(self.lanes) + 1, self.receivers + 1):
            receivers.append({"receiver": number, "outcome": "stored" if stored else "absent"})
        chunks = {"p2p": sum(summary.chunks.get("p2p", 0) for summary in delivered)}
        if stored is not None:
            chunks["s3"] = stored.records
        self.machine.move(_F.STORED if stored is not None else _F.DONE)
        manifest = self.source.manifest
        return TransferSummary(
            role="sender", name=manifest.name, size=manifest.size,
            seconds=time.perf_counter() - self._started, path=path_taken(chunks),
            chunks=chunks,
            # every receiver said `done` (each checked the whole file's SHA-256)
            sha256_verified=stored is None and len(delivered) == self.receivers,
            resent_bytes=sum(o.lane.resent_bytes for o in outcomes),
            window_bytes=max((o.lane.window_bytes for o in outcomes if o.lane.window_bytes),
                             default=None),
            reconnects=sum(max(0, o.lane.attempts - 1) for o in outcomes),
            setup_ms=min((o.lane.setup_ms for o in outcomes if o.lane.setup_ms is not None),
                         default=None),
            route=next((o.lane.route for o in outcomes if o.lane.route), None),
            packet_size=next((o.lane.packet_size for o in outcomes if o.lane.packet_size), None),
            stored_until=stored.stored_until if stored is not None else None,
            receipts=receipts, receivers=receivers,
        )

    def _lane_entry(self, outcome: _Outcome) -> dict[str, Any]:
        lane = outcome.lane
        entry: dict[str, Any] = {"receiver": lane.number, "id": lane.key}
        if outcome.summary is not None:
            summary = outcome.summary
            entry.update(outcome="stored" if summary.stored_until else "delivered",
                         path=summary.path, chunks=summary.chunks,
                         seconds=round(summary.seconds, 3),
                         mb_per_s=round(summary.mb_per_s, 2), route=summary.route,
                         reconnects=summary.reconnects)
        else:
            entry.update(outcome="failed", error=str(outcome.error))
        return entry
