"""The sender's flow-control window: records sent and not yet acknowledged, in bytes.

aiortc's SCTP receiver advertises a fixed window and hands every message up at once,
so nothing on the wire stops a sender from running far ahead of a slow receiver: the
records pile up in the receiver's memory, and a receiver killed then loses all of
them. The window bounds that at the protocol level (docs/protocol.md §8): a record is
sent only while the bytes of records sent on this connection and not yet in one of
the receiver's `have` acknowledgements stay within `limit`. Since a `have` names only
chunks saved to disk, this is also the most a restarted receiver can make the sender
send again.
"""

from __future__ import annotations

import asyncio
from collections import deque

from ..protocol.ranges import RangeSet

__all__ = ["FLOW_WINDOW_BYTES", "SendWindow"]

FLOW_WINDOW_BYTES = 2 * 1024 * 1024


class SendWindow:
    """Records in flight on one connection, in the order they were sent."""

    def __init__(self, limit: int = FLOW_WINDOW_BYTES) -> None:
        self.limit = limit
        self.outstanding = 0
        """Bytes sent and not yet acknowledged."""
        self.peak = 0
        self._in_flight: deque[tuple[int, int]] = deque()
        self._changed = asyncio.Event()
        self._closed = False

    def sent(self, index: int, size: int) -> None:
        self._in_flight.append((index, size))
        self.outstanding += size
        self.peak = max(self.peak, self.outstanding)

    def acked(self, held: RangeSet) -> None:
        """The receiver holds `held`: records are acknowledged in the order they were
        sent (one ordered channel), so the front of the queue is released first."""
        in_flight = self._in_flight
        while in_flight and in_flight[0][0] in held:
            self.outstanding -= in_flight.popleft()[1]
        self._changed.set()

    def close(self) -> None:
        """No more acknowledgements will come: wake a waiting sender."""
        self._closed = True
        self._changed.set()

    def has_room(self, size: int) -> bool:
        # one record always fits an empty window, whatever its size
        return self._closed or not self.outstanding or self.outstanding + size <= self.limit

    async def room_for(self, size: int) -> None:
        """Wait until a record of `size` bytes may be sent (or the window is closed)."""
        while not self.has_room(size):
            self._changed.clear()
            await self._changed.wait()
