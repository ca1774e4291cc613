"""The sender's flow-control window: records sent and not yet acknowledged, in bytes.

aiortc's SCTP receiver hands every message up at once, so nothing on the wire stops a
sender from running far ahead of a slow receiver: the records pile up in the
receiver's memory, and a receiver killed then loses all of them. The window bounds
that at the protocol level (docs/protocol.md §8): a record is sent only while the bytes
of records sent on this connection and not yet in one of the receiver's `have`
acknowledgements stay within the limit. Since a `have` names only chunks saved to disk,
this is also the most a restarted receiver can make the sender send again.

The limit starts at `FLOW_WINDOW_BYTES` and grows, never past `FLOW_WINDOW_MAX_BYTES`,
to twice what the receiver acknowledges in the connection's least round trip
(`WindowTuning`): the receive-buffer auto-tuning of TCP stacks and QUIC libraries,
done at the sender. On a path of a few milliseconds that is far below the start, so
the window stays where it starts; across a long path (80 ms and more) a fixed 2 MiB,
less the records the receiver holds before its next `have`, is what bounds the rate.
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


class WindowTuning:
    """The limit a window grows to: twice the bytes acknowledged per least round trip.

    A round trip here is a record's: from its sending to the first `have` naming it,
    sampled on the youngest record each `have` releases (the one its acknowledgement
    delay counts least against). Over each period of at least the least round trip,
    the bytes released in it give the delivery rate; twice the rate times the least
    round trip is the limit, if that is more. A window that bounds the rate makes that
    about twice itself while the path's round trip stays near its least (it grows
    until something else, the congestion window or a CPU, bounds the rate); a queue
    anywhere stretches the round trip past the least and stops the growth, so a slow
    receiver on loopback never grows it. It never shrinks: congestion is SCTP's to
    answer, and this only bounds what a receiver may hold.
    """

    def __init__(self, start: int = FLOW_WINDOW_BYTES, most: int = FLOW_WINDOW_MAX_BYTES) -> None:
        self.limit = start
        self.most = max(start, most)
        self.least_rtt = float("inf")
        self._period_start: float | None = None
        self._period_bytes = 0

    def released(self, size: int, youngest_sent: float, now: float) -> None:
        """`size` bytes were acknowledged at `now`, the youngest of them sent at
        `youngest_sent`."""
        self.least_rtt = min(self.least_rtt, now - youngest_sent)
        if self._period_start is None:
            self._period_start = now  # what this `have` releases was sent before it
            return
        self._period_bytes += size
        elapsed = now - self._period_start
        if elapsed <= 0 or elapsed < self.least_rtt:
            return
        wanted = int(2 * self._period_bytes * self.least_rtt / elapsed)
        self.limit = max(self.limit, min(self.most, wanted))
        self._period_start, self._period_bytes = now, 0


class SendWindow:
    """Records in flight on one connection, in the order they were sent."""

    def __init__(self, limit: int = FLOW_WINDOW_BYTES, most: int = FLOW_WINDOW_MAX_BYTES,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.tuning = WindowTuning(limit, most)
        self.outstanding = 0
        """Bytes sent and not yet acknowledged."""
        self.peak = 0
        self._clock = clock
        self._in_flight: deque[tuple[int, int, float]] = deque()
        self._changed = asyncio.Event()
        self._closed = False

    @property
    def limit(self) -> int:
        return self.tuning.limit

    def sent(self, index: int, size: int) -> None:
        self._in_flight.append((index, size, self._clock()))
        self.outstanding += size
        self.peak = max(self.peak, self.outstanding)

    def acked(self, held: RangeSet) -> None:
        """The receiver holds `held`: records are acknowledged in the order they were
        sent (one ordered channel), so the front of the queue is released first."""
        in_flight = self._in_flight
        released, youngest = 0, 0.0
        while in_flight and in_flight[0][0] in held:
            _index, size, youngest = in_flight.popleft()
            released += size
        if released:
            self.outstanding -= released
            self.tuning.released(released, youngest, self._clock())
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
