"""The sender's flow-control window: records sent and not yet acknowledged, in bytes.

aiortc's SCTP receiver hands every message up at once, so nothing on the wire stops a
sender from running far ahead of a slow receiver: the records pile up in the
receiver's memory, and a receiver killed then loses all of them. The window bounds
that at the protocol level (docs/protocol.md §8): a record is sent only while the bytes
of records sent on this connection and not yet in one of the receiver's `have`
acknowledgements stay within the limit. Since a `have` names only chunks saved to disk,
this is also the most a restarted receiver can make the sender send again.

The limit starts at `FLOW_WINDOW_BYTES` and grows, never past `FLOW_WINDOW_MAX_BYTES`,
to what the path holds (`WindowTuning`): receive-buffer auto-tuning as TCP stacks and
QUIC libraries do it, done at the sender. On a path of a few milliseconds that is next
to nothing and the window stays where it starts; across a long path (80 ms and more)
a fixed 2 MiB, less the records the receiver holds before its next `have`, is what
bounds the rate.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable

from ..protocol.ranges import RangeSet

__all__ = ["FLOW_WINDOW_BYTES", "FLOW_WINDOW_MAX_BYTES", "SendWindow", "WindowTuning"]

FLOW_WINDOW_BYTES = 2 * 1024 * 1024
"""Where every connection's window starts, and the least it is."""

FLOW_WINDOW_MAX_BYTES = 8 * 1024 * 1024
"""The most it grows to: 8 MiB keep 100 Mbit/s flowing across 600 ms of round trip,
56 MB/s across 150 ms; and the most a restarted receiver makes a sender send again."""


MIN_PERIOD = 0.1
"""Seconds: the least period a delivery rate is measured over, so that a few `have`s
arriving close together (each releases a checkpoint's records) are not read as a rate."""


class WindowTuning:
    """The limit a window grows to: its start plus twice what the path holds.

    What the path holds is the delivery rate times the path's least round trip. The
    round trip is the transport's own (SCTP's RTT samples; a page reads its ICE
    candidate pair's), so no queue of the sender's, nor the records the receiver holds
    before its next `have`, counts as path: those the start covers. The rate is the
    bytes released over each period of at least that round trip and `MIN_PERIOD`. A
    window that bounds the rate on a long path so grows each period, until something
    else (the congestion window, a CPU, the link) bounds it; on loopback or a LAN,
    where the round trip is a millisecond or two, it stays within a few hundred KB of
    its start. It never shrinks: congestion is SCTP's to answer, and this only bounds
    what a receiver may hold and a break may make the sender send again.
    """

    def __init__(self, start: int = FLOW_WINDOW_BYTES, most: int = FLOW_WINDOW_MAX_BYTES) -> None:
        self.start = start
        self.limit = start
        self.most = max(start, most)
        self._period_start: float | None = None
        self._period_bytes = 0

    def released(self, size: int, now: float, path_rtt: float | None) -> None:
        """`size` bytes were acknowledged at `now`; `path_rtt` is the path's least
        round trip in seconds so far (None: not measured yet, nothing grows)."""
        if self._period_start is None or path_rtt is None:
            self._period_start, self._period_bytes = now, 0  # sent before this period
            return
        self._period_bytes += size
        elapsed = now - self._period_start
        if elapsed < max(path_rtt, MIN_PERIOD):
            return
        wanted = self.start + int(2 * self._period_bytes * path_rtt / elapsed)
        self.limit = max(self.limit, min(self.most, wanted))
        self._period_start, self._period_bytes = now, 0


class SendWindow:
    """Records in flight on one connection, in the order they were sent."""

    def __init__(self, limit: int = FLOW_WINDOW_BYTES, most: int = FLOW_WINDOW_MAX_BYTES,
                 path_rtt: Callable[[], float | None] = lambda: None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.tuning = WindowTuning(limit, most)
        self.outstanding = 0
        """Bytes sent and not yet acknowledged."""
        self.peak = 0
        self._path_rtt = path_rtt
        self._clock = clock
        self._in_flight: deque[tuple[int, int]] = deque()
        self._changed = asyncio.Event()
        self._closed = False

    @property
    def limit(self) -> int:
        return self.tuning.limit

    def sent(self, index: int, size: int) -> None:
        self._in_flight.append((index, size))
        self.outstanding += size
        self.peak = max(self.peak, self.outstanding)

    def acked(self, held: RangeSet) -> None:
        """The receiver holds `held`: records are acknowledged in the order they were
        sent (one ordered channel), so the front of the queue is released first."""
        in_flight = self._in_flight
        released = 0
        while in_flight and in_flight[0][0] in held:
            released += in_flight.popleft()[1]
        if released:
            self.outstanding -= released
            self.tuning.released(released, self._clock(), self._path_rtt())
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
