"""The sending side of a peer-to-peer transfer, with resume after breaks.

    WAITING ──ready──▶ CONNECTING ──open──▶ TRANSFERRING ──done──▶ DONE
       ▲                   │                     │
       └── RECONNECTING ◀──┴────── break ────────┘          any ──▶ FAILED
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from enum import Enum, auto
from pathlib import Path

from ..keys import TransferKeys
from ..ranges import RangeSet
from ..source import FileSource
from ..webrtc.channel import PREFERRED_RECORD_SIZE, DataPipe, open_as_offerer, record_size_for
from ..webrtc.errors import ChannelClosedError, ChannelSetupError
from ..webrtc.ice import IceSettings
from .base import PeerOptions, PeerSession, state_table
from .control import Done, Fail, Have, ProtocolError, decode_control, expect_text
from .errors import PeerFailedError
from .machine import StateMachine
from .report import Reporter, TransferSummary, path_taken
from .signals import SignalRouter

logger = logging.getLogger(__name__)


class SenderState(Enum):
    WAITING = auto()
    CONNECTING = auto()
    TRANSFERRING = auto()
    RECONNECTING = auto()
    DONE = auto()
    FAILED = auto()


_S = SenderState
SENDER_MOVES = state_table({
    _S.WAITING: {_S.CONNECTING},
    _S.CONNECTING: {_S.TRANSFERRING, _S.RECONNECTING},
    _S.TRANSFERRING: {_S.DONE, _S.RECONNECTING},
    _S.RECONNECTING: {_S.WAITING},
}, _S.FAILED)


class Sender(PeerSession):
    """Sends one file to the receiver of a room, resuming after breaks."""

    role = "sender"

    def __init__(self, path: Path, keys: TransferKeys, token: str, options: PeerOptions,
                 reporter: Reporter | None = None,
                 preferred_record_size: int = PREFERRED_RECORD_SIZE) -> None:
        super().__init__(keys, token, options, StateMachine("sender", _S.WAITING, SENDER_MOVES),
                         reporter)
        self.path = path
        self.preferred_record_size = preferred_record_size
        self.source: FileSource | None = None
        self.sent = RangeSet(0)
        self.resent_bytes = 0
        self.attempts = 0
        self.setup_ms: float | None = None
        self._started: float | None = None

    async def run(self) -> TransferSummary:
        client, _, ice = await self._connect()
        self.router = SignalRouter(client, self.keys.signal_key, "sender")
        try:
            self.reporter.status("waiting for the receiver to open the link")
            return await self._loop(self.router, ice)
        except BaseException:
            self._fail()
            raise
        finally:
            await self.router.close()
            await client.close()
            if self.source is not None:
                self.source.close()

    async def _loop(self, router: SignalRouter, ice: IceSettings) -> TransferSummary:
        while True:
            grace = None if self.attempts == 0 else self.options.reconnect_grace
            ready = await self._race(router.readies.get(), grace,
                                     "the receiver did not come back in time")
            self.machine.move(_S.CONNECTING)
            self.attempts += 1
            attempt = router.attempt(ready.peer_id, ready.nonce)
            started = time.perf_counter()
            try:
                pipe = await self._race(
                    open_as_offerer(ice, attempt, timeout=self.options.connect_timeout)
                )
            except ChannelSetupError as exc:
                logger.info("connection attempt failed: %s", exc)
            else:
                if self.setup_ms is None:
                    self.setup_ms = (time.perf_counter() - started) * 1000
                self.machine.move(_S.TRANSFERRING)
                try:
                    if await self._transfer(pipe, router):
                        self.machine.move(_S.DONE)
                        return self._summary()
                except ChannelClosedError:
                    pass
                finally:
                    await pipe.close()
                self.reporter.status("connection lost; waiting for the receiver to come back")
            self.machine.move(_S.RECONNECTING)
            self.machine.move(_S.WAITING)

    async def _open_source(self, pipe: DataPipe) -> FileSource:
        if self.source is None:
            size = record_size_for(pipe.max_message_size, self.preferred_record_size)
            self.source = await asyncio.to_thread(
                FileSource.create, self.path, self.keys.file_key, size
            )
            self.sent = RangeSet(self.source.layout.count)
        return self.source

    async def _transfer(self, pipe: DataPipe, router: SignalRouter) -> bool:
        """Send what the receiver lacks; True once it says `done`, False on a break."""
        source = await self._open_source(pipe)
        await pipe.send(source.manifest_record)
        first = decode_control(expect_text(await pipe.recv()))
        if isinstance(first, Fail):
            raise PeerFailedError(first.code, first.message)
        if not isinstance(first, Have):
            raise ProtocolError("the receiver did not say what it holds")
        self.reporter.status("connected: sending directly, peer to peer")
        if self._started is None:
            self._started = time.perf_counter()
        self.reporter.progress(source.layout.bytes_in(first.held), source.layout.size)
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        acks = asyncio.create_task(self._read_acks(pipe, source, done))
        # the relay tells us at once when the receiver's process goes away; ICE would
        # take far longer to notice, so a departure closes the channel now
        watch = asyncio.create_task(router.departures.get())
        watch.add_done_callback(lambda _: asyncio.ensure_future(pipe.close()))
        try:
            for index in first.held.complement():
                if acks.done():
                    break
                record = source.record(index)
                if index in self.sent:
                    self.resent_bytes += len(record)
                await pipe.send(record)
                self.sent.add(index)
            await acks
            return done.done()
        finally:
            watch.cancel()
            acks.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await acks

    async def _read_acks(self, pipe: DataPipe, source: FileSource,
                         done: asyncio.Future[None]) -> None:
        while True:
            message = decode_control(expect_text(await pipe.recv()))
            if isinstance(message, Have):
                self.reporter.progress(source.layout.bytes_in(message.held), source.layout.size)
            elif isinstance(message, Done):
                self.reporter.progress(source.layout.size, source.layout.size)
                done.set_result(None)
                return
            elif isinstance(message, Fail):
                raise PeerFailedError(message.code, message.message)

    def _summary(self) -> TransferSummary:
        assert self.source is not None
        chunks = {"p2p": self.source.layout.count}
        return TransferSummary(
            role="sender", name=self.source.manifest.name, size=self.source.manifest.size,
            seconds=time.perf_counter() - (self._started or time.perf_counter()),
            path=path_taken(chunks), chunks=chunks, sha256_verified=True,
            resent_bytes=self.resent_bytes, reconnects=self.attempts - 1, setup_ms=self.setup_ms,
        )
