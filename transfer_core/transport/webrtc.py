"""The WebRTC adapter: records as binary frames on a `DataPipe`, control as text frames.

Sender: the manifest record, then the records the receiver lacks, paced by the pipe's
`bufferedAmount` watermarks, while a task reads the receiver's `have` acks until `done`.
Receiver: the manifest, `have` at once and then every `ACK_EVERY_RECORDS` records or
`ACK_EVERY_SECONDS`, `done` once the file is saved (docs/protocol.md; control messages
in `session.control`).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable

from ..errors import DuplicateRecordError, RecordError
from ..protocol.progress import Via
from ..protocol.ranges import RangeSet
from ..session.control import Done, Fail, Have, ProtocolError, decode_control, expect_text
from ..session.errors import PeerFailedError
from ..webrtc.channel import DataPipe
from ..webrtc.errors import ChannelClosedError
from .base import Progress, RecordSink, RecordSource

__all__ = ["ACK_EVERY_RECORDS", "ACK_EVERY_SECONDS", "CLOSE_GRACE_SECONDS",
           "WebRtcReceiveTransport", "WebRtcSendTransport"]

ACK_EVERY_RECORDS = 256
ACK_EVERY_SECONDS = 0.25
CLOSE_GRACE_SECONDS = 5.0


class WebRtcSendTransport:
    """`SendTransport` over one open data channel.

    `sent` is shared across connections by the session: a record sent again after a
    break adds its length to `resent_bytes`. `on_held` gets every `have` the receiver
    sends (the session keeps the last one for `send --resume`).
    """

    via = Via.P2P

    def __init__(self, pipe: DataPipe, sent: RangeSet | None = None,
                 on_held: Callable[[RangeSet], None] | None = None) -> None:
        self.pipe = pipe
        self.sent = sent
        self.resent_bytes = 0
        self._on_held = on_held

    @property
    def max_record_size(self) -> int:
        return self.pipe.max_message_size

    async def begin(self, source: RecordSource) -> RangeSet:
        await self.pipe.send(source.manifest_record)
        first = decode_control(expect_text(await self.pipe.recv()))
        if isinstance(first, Fail):
            raise PeerFailedError(first.code, first.message)
        if not isinstance(first, Have):
            raise ProtocolError("the receiver did not say what it holds")
        if self._on_held is not None:
            self._on_held(first.held)
        return first.held

    async def send(self, source: RecordSource, held: RangeSet, progress: Progress) -> bool:
        pipe = self.pipe
        layout = source.layout
        progress(layout.bytes_in(held), layout.size)
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        acks = asyncio.create_task(self._read_acks(source, progress, done))
        sent = self.sent if self.sent is not None else RangeSet(layout.count)
        try:
            for index in held.complement():
                if acks.done():
                    break
                record = source.record(index)
                if index in sent:
                    self.resent_bytes += len(record)
                await pipe.send(record)
                sent.add(index)
            await acks
            return done.done()
        finally:
            acks.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await acks

    async def _read_acks(self, source: RecordSource, progress: Progress,
                         done: asyncio.Future[None]) -> None:
        layout = source.layout
        while True:
            message = decode_control(expect_text(await self.pipe.recv()))
            if isinstance(message, Have):
                if self._on_held is not None:
                    self._on_held(message.held)
                progress(layout.bytes_in(message.held), layout.size)
            elif isinstance(message, Done):
                progress(layout.size, layout.size)
                done.set_result(None)
                return
            elif isinstance(message, Fail):
                raise PeerFailedError(message.code, message.message)

    async def close(self) -> None:
        await self.pipe.close()

    def close_soon(self, *_: object) -> None:
        """Close from a callback (the relay said the receiver left)."""
        asyncio.ensure_future(self.pipe.close())


class WebRtcReceiveTransport:
    """`ReceiveTransport` over one open data channel.

    `drop_after_bytes` is fault injection for tests and the demo: the transfer breaks
    (`ChannelClosedError`) once that many record bytes have arrived on this pipe.
    """

    via = Via.P2P

    def __init__(self, pipe: DataPipe, drop_after_bytes: int | None = None) -> None:
        self.pipe = pipe
        self.received_bytes = 0
        self.drop_after_bytes = drop_after_bytes

    async def manifest(self) -> bytes:
        first = await self.pipe.recv()
        if not isinstance(first, bytes):
            raise ProtocolError("the sender did not start with the manifest")
        return first

    async def announce(self, held: RangeSet) -> None:
        await self.pipe.send(Have(held).encode())

    async def receive(self, sink: RecordSink, progress: Progress) -> None:
        pipe = self.pipe
        via = Via.P2P
        drop_after = self.drop_after_bytes
        layout = sink.manifest.layout
        unacked, acked_at = 0, time.monotonic()
        while not sink.complete:
            message = await pipe.recv()
            if isinstance(message, str):
                control = decode_control(message)
                if isinstance(control, Fail):
                    raise PeerFailedError(control.code, control.message)
                raise ProtocolError("unexpected control message from the sender")
            try:
                sink.accept(message, via)
            except DuplicateRecordError:
                continue
            except RecordError as exc:
                await pipe.send(Fail("verification", str(exc)).encode())
                raise
            self.received_bytes += len(message)
            unacked += 1
            if unacked >= ACK_EVERY_RECORDS or time.monotonic() - acked_at >= ACK_EVERY_SECONDS:
                await pipe.send(Have(sink.durable).encode())  # only what survives a crash
                progress(layout.bytes_in(sink.progress.held), layout.size)
                unacked, acked_at = 0, time.monotonic()
            if drop_after is not None and self.received_bytes >= drop_after:
                self.drop_after_bytes = None
                raise ChannelClosedError("fault injection: channel dropped on purpose")

    async def finish(self) -> None:
        await self.pipe.send(Done().encode())
        # the sender closes once it reads `done`; closing first could cut `done` off in
        # flight (a handed-off message is not yet an acknowledged one)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.pipe.closed.wait(), CLOSE_GRACE_SECONDS)

    async def refuse(self, code: str, message: str) -> None:
        with contextlib.suppress(ChannelClosedError):
            await self.pipe.send(Fail(code, message).encode())

    async def close(self) -> None:
        await self.pipe.close()
