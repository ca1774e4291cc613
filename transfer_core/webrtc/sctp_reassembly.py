"""Reassembly without the rescan: a small adapter over aiortc's SCTP inbound streams.

aiortc 1.16 calls `InboundStream.pop_messages()` after every DATA chunk, and it walks
the reassembly list from its start each time. A 64 KiB message arrives as 56
fragments, so the receiver walks about 1,600 list entries per message: a quarter of
the receiving peer's SCTP time in a profile of a transfer (docs/benchmarks.md).

A chunk appended after every chunk already held, and that is not the last fragment
of a message, cannot complete any message: a message needs its last fragment, whose
TSN would be higher still, and nothing else changed since the previous call found
nothing to deliver. `TailAwareInboundStream` remembers that case in `add_chunk` and
then skips the walk; every other case runs aiortc's own `pop_messages`, so what is
delivered, and when, is unchanged (tests/unit/test_sctp_reassembly.py checks this
against aiortc's own class on random arrival orders).

`install_tail_aware_reassembly` puts it on one transport: its `_inbound_streams`
becomes a dict that gives each stream aiortc creates this class. Like `sctp_ack`, it
installs only on the pinned aiortc release.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from aiortc.rtcsctptransport import (
    SCTP_DATA_LAST_FRAG,
    DataChunk,
    InboundStream,
    RTCSctpTransport,
)
from aiortc.utils import uint32_gt

from .sctp_ack import supported


class TailAwareInboundStream(InboundStream):
    """aiortc's `InboundStream`, skipping `pop_messages` when it cannot deliver."""

    _settled = False
    """The last chunk went to the end and is not a last fragment: nothing to pop."""

    def add_chunk(self, chunk: DataChunk) -> None:
        reassembly = self.reassembly
        if not reassembly or uint32_gt(chunk.tsn, reassembly[-1].tsn):
            reassembly.append(chunk)  # aiortc's own fast branch, as it is
            self._settled = not (chunk.flags & SCTP_DATA_LAST_FRAG)
            return
        self._settled = False
        super().add_chunk(chunk)

    def pop_messages(self) -> Iterator[tuple[int, int, bytes]]:
        if self._settled:
            self._settled = False
            return iter(())
        return super().pop_messages()


class _TailAwareStreams(dict[int, InboundStream]):
    """`RTCSctpTransport._inbound_streams`, turning each new stream tail-aware."""

    def __setitem__(self, stream_id: int, stream: InboundStream) -> None:
        if type(stream) is InboundStream:
            stream.__class__ = TailAwareInboundStream
        super().__setitem__(stream_id, stream)


def install_tail_aware_reassembly(sctp: RTCSctpTransport | None) -> bool:
    """Make `sctp`'s inbound streams tail-aware (idempotent); False when nothing was
    installed (no transport, or an aiortc release other than the pinned one)."""
    if sctp is None or not supported():
        return False
    streams: Any = sctp._inbound_streams
    if isinstance(streams, _TailAwareStreams):
        return True
    replacement = _TailAwareStreams()
    for stream_id, stream in streams.items():
        replacement[stream_id] = stream
    sctp._inbound_streams = replacement
    return True
