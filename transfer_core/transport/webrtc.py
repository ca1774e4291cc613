"""The WebRTC adapter: records as binary frames on a `DataPipe`, control as text frames.

Sender: the manifest record, then the records the receiver lacks, paced by the pipe's
`bufferedAmount` watermarks and by the flow-control window (`window.py`: from
`FLOW_WINDOW_BYTES` sent and not yet acknowledged, growing on long paths to at most
`FLOW_WINDOW_MAX_BYTES`), while a task reads the receiver's
`have` acks until `done`. Receiver: the manifest, `have` at once and then after every
checkpoint of its work folder (every few records), and whenever no record has come for
`IDLE_ACK_SECONDS` with some not yet acknowledged, so a sender at the edge of its window
never waits on an acknowledgement that is not coming; `done` once the file is saved
(docs/protocol.md §8; control messages in `session.control`).

Liveness (docs/protocol.md §8): the receiver repeats its last `have` at least every
`HEARTBEAT_SECONDS`, also while it verifies the file, so a sender that hears nothing
for `SILENCE_SECONDS` knows the receiver is gone (stopped, frozen, cut off) long
before ICE consent would tell it; a receiver still missing records that gets none
for as long knows the same of the sender. Either closes the channel and the session
reconnects, or falls back to storage, counting its grace from `last_heard`. No new
message: a peer that does not repeat `have` is still understood.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from typing import Any

from ..errors import DuplicateRecordError, RecordError
from ..protocol.progress import Via
from ..protocol.ranges import RangeSet
from ..protocol.record import manifest_record_count, split_manifest_records
from ..session.control import Done, Fail, Have, ProtocolError, decode_control, expect_text
from ..session.errors import PeerFailedError
from ..timeouts import within
from ..webrtc.channel import DataPipe
from ..webrtc.errors import ChannelClosedError
from .base import Progress, RecordSink, RecordSource
from .rate import RateLimit
from .window import FLOW_WINDOW_BYTES, SendWindow

__all__ = ["CLOSE_GRACE_SECONDS", "HEARTBEAT_SECONDS", "IDLE_ACK_SECONDS", "SILENCE_SECONDS",
           "PeerSilentError", "WebRtcReceiveTransport", "WebRtcSendTransport"]

IDLE_ACK_SECONDS = 0.02
CLOSE_GRACE_SECONDS = 5.0
HEARTBEAT_SECONDS = 1.0
SILENCE_SECONDS = 5.0


class PeerSilentError(ChannelClosedError):
    """Nothing came from the other side for the silence timeout: the channel is given up."""


async def recv_within(pipe: DataPipe, seconds: float, who: str) -> bytes | str:
    """The pipe's next message; `PeerSilentError` (the pipe closed) if none comes in time."""
    if pipe.pending_messages:
        return await pipe.recv()
    try:
        return await within(pipe.recv(), seconds)
    except TimeoutError:
        await pipe.close()
        raise PeerSilentError(f"the {who} went silent for {seconds:g} s") from None


class WebRtcSendTransport:
    """`SendTransport` over one open data channel.

    `sent` is shared across connections by the session: a record sent again after a
    break adds its length to `resent_bytes`. `on_held` gets every `have` the receiver
    sends (the session keeps the last one for `send --resume`). `window` bounds the
    bytes in flight; `pace` (`--limit-rate`) the rate.
    """

    via = Via.P2P

    def __init__(self, pipe: DataPipe, sent: RangeSet | None = None,
                 on_held: Callable[[RangeSet], None] | None = None,
                 silence: float = SILENCE_SECONDS, window: int = FLOW_WINDOW_BYTES,
                 pace: RateLimit | None = None) -> None:
        self.pipe = pipe
        self.sent = sent
        self.resent_bytes = 0
        self._on_held = on_held
        self.silence = silence
        self.window = SendWindow(window, path_rtt=lambda: pipe.path_rtt)
        self.pace = pace
        self.last_heard = time.monotonic()
        """When the receiver last said anything (the grace after a break counts from it)."""
        self.receipt: dict[str, Any] | None = None
        """The receiver's signed receipt from its `done`, unverified (session.receipt)."""

    async def _recv(self) -> bytes | str:
        message = await recv_within(self.pipe, self.silence, "receiver")
        self.last_heard = time.monotonic()
        return message

    @property
    def max_record_size(self) -> int:
        return self.pipe.max_message_size

    async def begin(self, source: RecordSource) -> RangeSet:
        for record in split_manifest_records(source.manifest_record):  # one, or a list's
            await self.pipe.send(record)
        first = decode_control(expect_text(await self._recv()))
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
        window, pace = self.window, self.pace
        acks.add_done_callback(lambda _: window.close())
        try:
            for index in held.complement():
                record = source.sealed(index)
                if not window.has_room(len(record)):
                    await window.room_for(len(record))
                if pace is not None:
                    await pace.take(len(record))
                if acks.done():
                    break
                if index in sent:
                    self.resent_bytes += len(record)
                window.sent(index, len(record))
                try:
                    await pipe.send(record)
                except ChannelClosedError:
                    # the ack reader may have closed the pipe (a silent receiver): its
                    # reason wins; it ends as soon as the close completes
                    await asyncio.wait({acks}, timeout=CLOSE_GRACE_SECONDS)
                    if acks.done() and not acks.cancelled() and acks.exception() is not None:
                        await acks
                    raise
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
            message = decode_control(expect_text(await self._recv()))
            if isinstance(message, Have):
                self.window.acked(message.held)
                if self._on_held is not None:
                    self._on_held(message.held)
                progress(layout.bytes_in(message.held), layout.size)
            elif isinstance(message, Done):
                self.receipt = message.receipt
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

    def __init__(self, pipe: DataPipe, drop_after_bytes: int | None = None,
                 silence: float = SILENCE_SECONDS, pace: RateLimit | None = None) -> None:
        self.pipe = pipe
        self.received_bytes = 0
        self.drop_after_bytes = drop_after_bytes
        self.silence = silence
        self.pace = pace
        self.last_heard = time.monotonic()
        """When the sender last sent anything (the grace after a break counts from it)."""
        self._acked: RangeSet | None = None
        self._acked_at = time.monotonic()
        self._heartbeat: asyncio.Task[None] | None = None

    async def _ack(self, held: RangeSet) -> None:
        self._acked, self._acked_at = held, time.monotonic()
        await self.pipe.send(Have(held).encode())

    async def _beat(self) -> None:
        """Repeat the last `have` whenever none went for `HEARTBEAT_SECONDS` (to the end)."""
        while True:
            await asyncio.sleep(HEARTBEAT_SECONDS - (time.monotonic() - self._acked_at))
            if self._acked is not None and time.monotonic() - self._acked_at >= HEARTBEAT_SECONDS:
                try:
                    await self._ack(self._acked)
                except ChannelClosedError:
                    return

    def _stop_heartbeat(self) -> None:
        if self._heartbeat is not None:
            self._heartbeat.cancel()

    async def manifest(self) -> bytes:
        # no silence timeout: the sender hashes the whole file before its manifest
        first = await self.pipe.recv()
        self.last_heard = time.monotonic()
        if not isinstance(first, bytes):
            raise ProtocolError("the sender did not start with the manifest")
        records = [first]
        for _ in range(manifest_record_count(first) - 1):  # a long list: several records
            more = await recv_within(self.pipe, self.silence, "sender")
            if not isinstance(more, bytes):
                raise ProtocolError("the sender's manifest records were cut short")
            records.append(more)
        return b"".join(records)

    async def announce(self, held: RangeSet) -> None:
        await self._ack(held)
        if self._heartbeat is None:
            self._heartbeat = asyncio.create_task(self._beat())

    async def _next(self, sink: RecordSink) -> bytes | str:
        """The next message. With records not yet acknowledged and none waiting, wait
        `IDLE_ACK_SECONDS` first: if nothing comes, save and acknowledge them (the
        sender may be waiting on its window for exactly that)."""
        pipe = self.pipe
        # or saved and not acknowledged: the write finished after the last record came
        if (sink.unchecked or sink.durable is not self._acked) and not pipe.pending_messages:
            try:
                return await within(pipe.recv(), IDLE_ACK_SECONDS)
            except TimeoutError:
                if sink.unchecked:
                    sink.checkpoint()
                await sink.settle()  # written in a worker thread: `durable` follows
                await self._ack(sink.durable)
        return await recv_within(pipe, self.silence, "sender")

    async def receive(self, sink: RecordSink, progress: Progress) -> None:
        pipe = self.pipe
        via = Via.P2P
        drop_after = self.drop_after_bytes
        layout = sink.manifest.layout
        pace = self.pace
        while not sink.complete:
            message = await self._next(sink)
            self.last_heard = time.monotonic()
            if isinstance(message, str):
                control = decode_control(message)
                if isinstance(control, Fail):
                    raise PeerFailedError(control.code, control.message)
                raise ProtocolError("unexpected control message from the sender")
            if pace is not None:
                await pace.take(len(message))
            try:
                sink.accept(message, via)
            except DuplicateRecordError:
                continue
            except RecordError as exc:
                await pipe.send(Fail("verification", str(exc)).encode())
                raise
            self.received_bytes += len(message)
            if sink.durable is not self._acked:  # a checkpoint: acknowledge what it saved
                await self._ack(sink.durable)
                progress(layout.bytes_in(sink.progress.held), layout.size)
            if drop_after is not None and self.received_bytes >= drop_after:
                self.drop_after_bytes = None
                raise ChannelClosedError("fault injection: channel dropped on purpose")

    async def finish(self, receipt: dict[str, Any] | None = None) -> None:
        self._stop_heartbeat()
        await self.pipe.send(Done(receipt).encode())
        # the sender closes once it reads `done`; closing first could cut `done` off in
        # flight (a handed-off message is not yet an acknowledged one)
        with contextlib.suppress(TimeoutError):
            await within(self.pipe.closed.wait(), CLOSE_GRACE_SECONDS)

    async def refuse(self, code: str, message: str) -> None:
        self._stop_heartbeat()
        with contextlib.suppress(ChannelClosedError):
            await self.pipe.send(Fail(code, message).encode())

    async def close(self) -> None:
        self._stop_heartbeat()
        await self.pipe.close()
