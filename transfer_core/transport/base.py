"""The transport interface: the one cut-off line between the sessions and the wire.

Two adapters implement it, `webrtc` (a data channel, peer to peer) and `s3` (presigned
URLs, through storage). Sessions choose an adapter and drive it through the interface
below; only `via` (recorded per chunk in the
receiver's progress record) tells which transport carried a record.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from ..protocol.progress import Via

if TYPE_CHECKING:
    from ..protocol.layout import ChunkLayout
    from ..protocol.manifest import AnyManifest
    from ..protocol.progress import ProgressRecord
    from ..protocol.ranges import RangeSet
    from ..protocol.record import SealedRecord

__all__ = ["Progress", "ReceiveTransport", "RecordSink", "RecordSource", "SendTransport"]

Progress = Callable[[int, int], None]
"""`progress(done, total)`: how far the far side is, both in the transport's byte unit."""


class RecordSource(Protocol):
    """Where a sending transport reads sealed records from (`FileSource`)."""

    layout: ChunkLayout
    manifest_record: bytes

    def record(self, index: int) -> bytes:
        """Record `index`, read and sealed now (thread-safe: S3 seals in worker threads)."""
        ...

    def sealed(self, index: int) -> SealedRecord:
        """`record(index)` with header and ciphertext apart, for a transport that copies
        the record as it sends it anyway (see `SealedRecord`)."""
        ...


class RecordSink(Protocol):
    """Where a receiving transport puts verified records (`PartialFile`)."""

    manifest: AnyManifest
    progress: ProgressRecord
    """Held chunks per transport."""
    durable: RangeSet
    """Held chunks already saved to disk: the only ones a receiver acknowledges."""

    def accept(self, record: bytes, via: Via, expected_index: int | None = None) -> int:
        """Verify and write one record; raise `RecordError` or `DuplicateRecordError`."""
        ...

    @property
    def complete(self) -> bool: ...

    def missing(self) -> RangeSet: ...

    def save(self) -> None: ...

    @property
    def unchecked(self) -> int:
        """Records accepted since the last checkpoint (not yet in `durable`)."""
        ...

    def checkpoint(self) -> None:
        """Make every accepted record durable against a killed process (no fsync)."""
        ...

    async def settle(self) -> None:
        """Wait for the checkpoints and saves asked for so far (`durable` names them)."""
        ...


@runtime_checkable
class SendTransport(Protocol):
    """The sending half of a transport: hands a file's sealed records to the far side.

    A session drives one of these per connection (one data channel, one storage
    upload), in this order:

    1. `await begin(source)` hands over the sealed manifest record and returns the
       records the far side already holds: peer to peer, the receiver's first
       `have`; through storage, what the receiver said it held before the fallback.
    2. `await send(source, held, progress)` sends every record the far side lacks,
       reading each from `source.record(index)` only when the transport can take it,
       so sender memory stays bounded whatever the file size. Peer to peer sends the
       complement of `held` in order, paced by the channel's `bufferedAmount`
       watermarks, and returns once the receiver says `done`. Storage sends records
       `first missing … count-1` as one object (the storage layout, docs/protocol.md
       §10) in parts of whole records, sealed in worker threads, at most a bounded
       number in flight, an interrupted multipart upload resumed from the parts S3
       already holds; it returns once the object is complete. `progress(done, total)`
       is called as the far side gets records. Returns True when the far side has
       (or can fetch) every record.
    3. `await close()`, always, whatever happened (idempotent).

    Records are byte-identical on every transport: a transport frames, paces and
    groups them, it never re-encrypts them. Errors: `ChannelClosedError` when a
    peer-to-peer connection breaks (the session reconnects or falls back),
    `PeerFailedError` when the receiver gives up and says why, `StorageError` /
    `TransferExpiredError` from storage.
    """

    via: Via
    """The transport, as the receiver's progress record names it."""

    @property
    def max_record_size(self) -> int | None:
        """The largest record this transport carries (None: any size)."""
        ...

    async def begin(self, source: RecordSource) -> RangeSet:
        """Hand over the manifest; return what the far side already holds."""
        ...

    async def send(self, source: RecordSource, held: RangeSet, progress: Progress) -> bool:
        """Send what the far side lacks; True once it has (or can fetch) everything."""
        ...

    async def close(self) -> None:
        """Release the connection (idempotent)."""
        ...


@runtime_checkable
class ReceiveTransport(Protocol):
    """The receiving half of a transport: takes a file's sealed records into a sink.

    In order: `await manifest()` returns the sealed manifest record (the session opens
    its `PartialFile` with it); `await announce(held)` tells the far side what is
    already held (peer to peer, the first `have`; storage has no one to tell);
    `await receive(sink, progress)` verifies and writes records until the sink is
    complete (peer to peer) or the transport has nothing more (storage: every stored
    record the sink lacks, each opened at its known index, so a swapped part is
    refused as misplaced). Duplicates are skipped; a record that fails verification
    stops the transfer with its `RecordError` (peer to peer tells the sender first).
    Then `await finish(receipt)` once the file is verified and named (peer to peer:
    `done` carrying the signed receipt, then a short wait for the sender to close),
    or `await refuse(code, message)` to give up and say why; `await close()` always.

    Every accepted record is marked in the sink with this transport's `via`. Errors as
    for `SendTransport`.
    """

    via: Via
    """The transport, as the progress record names it."""

    async def manifest(self) -> bytes:
        """The sealed manifest record."""
        ...

    async def announce(self, held: RangeSet) -> None:
        """Tell the far side which records are already held."""
        ...

    async def receive(self, sink: RecordSink, progress: Progress) -> None:
        """Accept records into `sink` until it is complete or nothing more comes."""
        ...

    async def finish(self, receipt: dict[str, Any] | None = None) -> None:
        """The file is verified and saved: tell the far side (handing it the receiver's
        signed `receipt`, if any), let it close first."""
        ...

    async def refuse(self, code: str, message: str) -> None:
        """Give up, telling the far side why (best effort)."""
        ...

    async def close(self) -> None:
        """Release the connection (idempotent)."""
        ...
