"""Delayed SACK for aiortc's SCTP receiver (RFC 4960 §6.2), as a small adapter.

aiortc 1.16 answers every packet that carries DATA with a SACK of its own. On a
fast path both peers are CPU-bound in aiortc's per-packet Python, and a SACK
costs the receiver a DTLS record and a datagram and the sender a parse and a
congestion-control pass. RFC 4960 §6.2 lets a receiver acknowledge at least every
second packet, at most 200 ms late, and at once when something is wrong.

`DelayedAck` takes over the one place aiortc decides to acknowledge: after each
received packet, `RTCSctpTransport._handle_data` calls `self._send_sack()` while
`self._sack_needed` is set. An instance attribute shadows that method; it sends
the SACK at once when

- a gap is open (`_sack_misordered` not empty), or the last SACK reported one
  (the packet that closes a gap is acknowledged at once), or
- a duplicate TSN arrived (`_sack_duplicates` not empty), or
- `every` or more TSNs arrived since the last SACK (`every_small` while the
  receiver is behind on small datagrams: see "Small datagrams"), or
- the association is not established (shutdown acknowledges everything), or
- a gap or a duplicate was reported within the last `after_loss` packets (the
  sender is recovering from a loss: see "When every packet is acknowledged"), or
- no further datagram is waiting to be read (`idle_ack`: the receiver has caught
  up with what arrived, so nothing else would carry this acknowledgement soon), or
- the sender is in its first slow start (`start_bytes`: see "The start");

otherwise it leaves `_sack_needed` set and arms one timer (`max_delay`) that sends
whatever is still unacknowledged when it fires. aiortc's own `_send_sack` builds
every SACK (or `sctp_receive`'s, which reads the same fields and keeps its gap blocks
in runs), so its content (cumulative TSN, gaps, duplicates, window) is what aiortc
would send; only the moment changes.

When every packet is acknowledged (docs/networking.md §6): a delayed SACK costs the
sender time. The packet it holds waits for the next one, and on a slow path, where a
sender limited by its congestion window sends a handful of packets per round trip,
that is milliseconds to a round trip: the sender's smoothed RTT grows, its slow start
(one packet of window per SACK) halves, and where loss bounds throughput (Reno,
Mathis: MSS / RTT × 1.22 / √p) the rate falls with it. The CPU a delayed SACK saves
matters only when the receiver is the bottleneck, and then datagrams wait in its
socket. So this policy holds a SACK back only while another datagram is already
waiting to be read (it is processed next, microseconds later, and its SACK covers
both), and never while the sender recovers from a loss. Like Linux TCP's "quick
ack" mode (per-segment ACKs after out-of-order data) and its rule of acknowledging
when the receive queue drains; RFC 9260 §6.2 allows acknowledging more often than
every second packet. Whether a datagram waits is read with one `FIONREAD` ioctl on
the selected ICE pair's UDP socket, plus aioice's own queue; where no socket can be
found (a TURN relay's transport has none), the policy is SACK/2 as before.

Small datagrams (session 11): once the receiver has been behind (a datagram waits) for
`small_after` (50 ms) without catching up, and the datagram waiting is at most
`small_datagram` bytes (1,500: an Ethernet frame, what a LAN path and Chromium's SCTP
send), it acknowledges every third packet instead of every second. A SACK costs the
receiver the same whatever the size of the packets it covers (a DTLS record and a
`sendto`, which on loopback also delivers the datagram), so at ~1,200-1,400-byte
packets it is a large share of a CPU-bound receiver's work; its value to the sender
(the ack clock; slow start grows by at most one MTU per SACK) is per window. Held back
only while a datagram already waits, the SACK is late by the time it takes to process
one more packet, not by a round trip. The 50 ms keeps the rule off long paths, where a
window's burst arrives back to back and the receiver is briefly behind every round
trip: without it, every third packet in those bursts cost 17 % at RTT 80 ms in the
lab. Caught up means the socket was found empty, or more than `CAUGHT_UP_GAP` (10 ms)
passed between two packets (the burst's last packet may be acknowledged without asking
the socket, and the next burst finds it full again). At 4,000-byte packets and larger
every third packet was slower (the window holds few packets and the clock gets
coarse), so large datagrams keep `every`. Every fourth packet against a Chromium
sender fell to two thirds of the speed: dcsctp sends at most four packets each time
(`max_burst`), so a SACK per four freezes its window, as it does aiortc's (below). RFC
9260 §6.2's "at least every second packet" is a SHOULD; this is the one place we do
otherwise, and only while the receiver, not the path, limits the transfer. Figures:
docs/benchmarks.md, "Every third packet on small datagrams".

The start (session 19): a sender's slow start grows its window by at most one packet
per SACK (RFC 9260 §7.2.1; aiortc's does exactly that), so a receiver that acknowledges
every second packet halves the growth: the window grows by half each round trip instead
of doubling, and over a long path a transfer spends its first second below what the
path carries (at 80 ms, about 14 round trips to a 1 MiB window instead of 8). TCP
senders count the bytes a delayed ACK covers (RFC 3465); SCTP's may not. So at the
start the receiver acknowledges each packet at once, as after a loss, until the packets
it acknowledged that way beyond what `every` would have add up to `start_bytes` (1 MiB:
about the first 2 MiB received, a slow start to a window of about 2 MiB whatever the
packet size), or until it first falls behind for `small_after`: from then on the
receiver, not the path, limits the transfer, and the start is over for good. A budget
in bytes, not in SACKs: the window a slow start has to reach is in bytes, and a budget
of SACKs (1,024, the first version) would cover 16 MiB of 16,000-byte packets where
the receiver keeps up (a sender that limits a loopback transfer). The size of a packet
is read from the datagram waiting behind it (the one `idle_ack` asks about); where the
receiver cannot tell (a TURN relay's transport) it counts as `small_datagram`. In the
lab, 24 MiB, the start made RTT 80 ms ×1.15-1.19 and 150 ms ×1.15 faster; CLI to CLI on
loopback did not move beyond noise (docs/benchmarks.md, "The start").

What bounds `every` (see docs/benchmarks.md): an aiortc sender sends at most four
packets per SACK beyond what is in flight (`SCTP_MAX_BURST`), and in slow start grows
its window by one packet per SACK (RFC 4960 §7.2.1); a receiver that acknowledges
every fourth packet therefore freezes an aiortc sender's window where it starts.
Retransmission is not at risk: aiortc's and Chromium's minimum RTO (1 s, 400 ms)
are well above the 200 ms delay, and a loss is reported at once (a gap).

The adapter relies on aiortc internals; it installs only on the aiortc version it
was checked against (`PINNED_AIORTC`) and otherwise leaves aiortc as it is, with a
warning. The idle probe reads aioice internals (0.13.0); if they move it answers
"cannot tell" and the policy falls back to SACK/2. tests/unit/test_sctp_ack.py fails
loudly when either changes.
"""

from __future__ import annotations

import asyncio
import fcntl
import logging
import struct
import termios
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import aiortc
from aiortc.rtcsctptransport import RTCSctpTransport

from .sctp_gaps import TSN_MODULO

logger = logging.getLogger(__name__)

PINNED_AIORTC = "1.16.0"
"""The aiortc release whose SCTP receive path this adapter was written against."""
CAUGHT_UP_GAP = 0.01
"""Seconds between two packets that show the receiver had caught up (it waited for the
second): a receiver that is behind takes them back to back, tens of microseconds apart,
but may lose the CPU for a few milliseconds to another process (2 ms here took the
gain away from a CPU-bound transfer on a 2-core machine); a long path's bursts are
tens of milliseconds apart."""
_MARK = "_sgraph_send_delayed_ack"


@dataclass(frozen=True)
class AckPolicy:
    """When the receiver acknowledges DATA."""

    every: int = 2
    """Acknowledge once this many TSNs arrived since the last SACK (1: every packet,
    aiortc's own behaviour). RFC 4960 §6.2 asks for at least every second packet."""
    max_delay: float = 0.2
    """Longest a received TSN waits for its SACK, in seconds (RFC 4960: 200 ms)."""
    after_loss: int = 64
    """After a SACK that reported a gap or a duplicate, acknowledge each of the next
    this many packets (0: only the packet that closes the gap). About five windows of
    a Reno sender at 1 % loss (12 packets): its whole recovery and regrowth."""
    idle_ack: bool = True
    """Acknowledge at once when no further datagram waits to be read (see above)."""
    every_small: int = 3
    """While the receiver is behind and the datagram waiting is at most
    `small_datagram` bytes, acknowledge once this many TSNs arrived (never fewer
    than `every`). See "Small datagrams" above."""
    small_datagram: int = 1500
    """The largest datagram (UDP payload, DTLS included) that counts as small."""
    small_after: float = 0.05
    """`every_small` applies once the receiver has been behind this many seconds
    without catching up: longer than a window's burst arriving over a long path (there
    the sender's clock needs each second packet), shorter than a CPU-bound transfer."""
    start_bytes: int = 1 << 20
    """At the start of the association, acknowledge each packet at once (as after a
    loss) until the packets so acknowledged beyond what `every` would have add up to
    this many bytes, or the receiver first falls behind for `small_after`: the sender's
    slow start ("The start" above). With `idle_ack` only, whose probe tells when the
    receiver is behind and how large its packets are."""
    behind_recheck: float = 0.001
    """Once a datagram was seen waiting, take the receiver as still behind for this
    many seconds without asking the socket again: the `FIONREAD` ioctl measured 11 µs
    on the loaded test machine, a sizeable share of a fast path's per-packet cost,
    and a receiver that is behind stays behind for longer than a millisecond."""

    def __post_init__(self) -> None:
        if self.every < 1:
            raise ValueError("every must be at least 1")
        if not 0 < self.max_delay <= 0.5:  # RFC 4960 §6.2: MUST NOT exceed 500 ms
            raise ValueError("max_delay must be in (0, 0.5] seconds")
        if min(self.after_loss, self.behind_recheck, self.small_datagram, self.small_after,
               self.start_bytes) < 0:
            raise ValueError("after_loss, small_datagram, small_after, start_bytes and"
                             " behind_recheck must not be negative")
        if self.every_small < 1:
            raise ValueError("every_small must be at least 1")

    @classmethod
    def parse(cls, spec: str) -> AckPolicy:
        """`EVERY:MAX_DELAY[:AFTER_LOSS[:IDLE_ACK[:EVERY_SMALL[:START_BYTES]]]]`, e.g.
        `2:0.2:0:0:2:0` (SACK/2 always, session 4's policy), `2:0.2:64:1:2:0` (session
        10's: no small-datagram rule), `2:0.2:64:1:3:0` (session 11's: no start) or
        `1:0.2` (every packet); for benchmarks."""
        parts = spec.split(":")
        if not 2 <= len(parts) <= 6 or (len(parts) >= 4 and parts[3] not in ("0", "1")):
            raise ValueError(f"ack policy {spec!r}: want"
                             " EVERY:MAX_DELAY[:AFTER_LOSS[:0|1[:EVERY_SMALL[:START_BYTES]]]]")
        fields: dict[str, Any] = {"every": int(parts[0]), "max_delay": float(parts[1])}
        if len(parts) > 2:
            fields["after_loss"] = int(parts[2])
        if len(parts) > 3:
            fields["idle_ack"] = parts[3] == "1"
        if len(parts) > 4:
            fields["every_small"] = int(parts[4])
        if len(parts) > 5:
            fields["start_bytes"] = int(parts[5])
        return cls(**fields)


DEFAULT_ACK_POLICY = AckPolicy()
EVERY_PACKET = AckPolicy(every=1)
"""aiortc's own behaviour (no adapter installed)."""


def supported() -> bool:
    """Whether the installed aiortc is the one this adapter was checked against."""
    return aiortc.__version__ == PINNED_AIORTC


_FIONREAD_ZERO = struct.pack("i", 0)


LARGEST_DATAGRAM = 65_535
"""The size reported for a datagram that waits but whose size cannot be read."""


def _first_queued_size(queue: asyncio.Queue[Any]) -> int:
    """The size of the first datagram in aioice's queue of `(data, component)` items
    (asyncio.Queue keeps them in `_queue`); LARGEST_DATAGRAM if that cannot be read, so
    no rule for small datagrams applies to it."""
    try:
        data, _component = queue._queue[0]  # type: ignore[attr-defined]
        return len(data)
    except (AttributeError, IndexError, TypeError, ValueError):
        return LARGEST_DATAGRAM


def datagram_waiting(sctp: RTCSctpTransport) -> int | None:
    """The size in bytes of the next datagram for `sctp` already waiting to be read, 0
    when there is none: in aioice's queue or in the kernel's buffer of the selected
    pair's socket (`FIONREAD`: the size of the next datagram). None when it cannot tell
    (no selected pair yet, or a transport without a socket such as a TURN relay's)."""
    try:
        connection = sctp.transport.transport._connection
        if connection._queue.qsize():
            return _first_queued_size(connection._queue)
        pair = connection._nominated.get(1)
        if pair is None:
            return None
        sock = pair.protocol.transport.get_extra_info("socket")
    except AttributeError:
        return None
    try:  # asyncio hands out a `TransportSocket`, a socket.socket wrapper
        fd = sock.fileno() if sock is not None else -1
        if fd < 0:
            return None
        waiting = fcntl.ioctl(fd, termios.FIONREAD, _FIONREAD_ZERO)
    except (AttributeError, OSError):
        return None
    size: int = struct.unpack("i", waiting)[0]
    return size


class DelayedAck:
    """The delayed-SACK policy on one `RTCSctpTransport` (see the module docstring)."""

    def __init__(self, sctp: RTCSctpTransport, policy: AckPolicy) -> None:
        self._sctp = sctp
        self._policy = policy
        self.build_sack: Callable[[], Awaitable[None]] = sctp._send_sack
        """What builds and sends a SACK: aiortc's own, bound before this policy shadows
        it, unless another adapter builds them (`sctp_receive`)."""
        self._acked_tsn: int | None = None
        """The cumulative TSN the last SACK carried."""
        self._seen_tsn: int | None = None
        """The cumulative TSN when this policy last decided (to send or to wait)."""
        self._gap_reported = False
        """The last SACK reported a gap: the packet that closes it is acked at once."""
        self._quick_left = 0
        """Packets still to acknowledge one by one after a reported gap or duplicate."""
        self._start_left = policy.start_bytes if policy.idle_ack else 0
        """Bytes of packets still to acknowledge at once for the sender's slow start; 0
        once the receiver has been behind for `small_after` (it limits the transfer, not
        the path)."""
        self._datagram = policy.small_datagram
        """The size of the last datagram seen waiting: what the start counts a packet as."""
        self.waiting: Callable[[], int | None] = lambda: datagram_waiting(sctp)
        """The size of the next datagram waiting to be read, 0 if none, None if it
        cannot tell (a test may replace it)."""
        self._every_now = policy.every
        """TSNs that make a SACK due: `every`, or `every_small` while behind on small
        datagrams."""
        self._every_small = max(policy.every, policy.every_small)
        self._behind_since: float | None = None
        """When the receiver was first seen behind since it last caught up."""
        self._last_packet_at = 0.0
        """When the last packet was decided on, while behind."""
        self._behind_until = 0.0
        """Until then (monotonic seconds) the receiver counts as behind, unasked."""
        self._timer: asyncio.TimerHandle | None = None
        self._flushing: asyncio.Future[None] | None = None
        self.sacks_sent = 0
        """SACKs sent through this policy (at once or by the timer)."""
        self.sacks_delayed = 0
        """Decisions to wait instead of acknowledging at once."""
        self.sacks_after_loss = 0
        """SACKs sent at once only because a loss was reported within `after_loss`."""
        self.sacks_idle = 0
        """SACKs sent at once only because no further datagram was waiting."""
        self.sacks_unknown = 0
        """Decisions where whether a datagram waits could not be told (SACK/2 then)."""
        self.sacks_at_start = 0
        """SACKs sent at once only for the sender's slow start."""

    @property
    def policy(self) -> AckPolicy:
        """The policy in force."""
        return self._policy

    def _install(self) -> None:
        # An instance attribute shadows the class's method for `self._send_sack()`.
        self._sctp._send_sack = self._on_sack_needed  # type: ignore[method-assign]
        setattr(self._sctp, _MARK, self)

    async def _on_sack_needed(self) -> None:
        sctp = self._sctp
        received = sctp._last_received_tsn
        now: float | None = None
        if self._behind_since is not None:
            # a receiver that is behind takes packets back to back; a pause means it
            # waited for this one (caught up), even if it never found the socket empty
            now = time.monotonic()
            if now - self._last_packet_at > CAUGHT_UP_GAP:
                self._caught_up()
            self._last_packet_at = now
        if (
            sctp._sack_misordered
            or sctp._sack_duplicates
            or self._gap_reported
            or sctp._association_state != RTCSctpTransport.State.ESTABLISHED
            or received is None
            or self._acked_tsn is None
            or (received - self._acked_tsn) % TSN_MODULO >= self._every_now
        ):
            await self._send()
            return
        if received == self._seen_tsn:
            # No new TSN: a packet without DATA (say, a SACK for our own DATA) while an
            # acknowledgement waits; the timer is already armed.
            return
        if self._quick_left > 0:
            self._quick_left -= 1
            self.sacks_after_loss += 1
            await self._send()
            return
        if self._policy.idle_ack:
            if now is None:
                now = time.monotonic()
            if now < self._behind_until:
                waiting: int | None = 1
            else:
                waiting = self.waiting()
                if waiting:
                    self._datagram = waiting
                    self._behind_until = now + self._policy.behind_recheck
                    if self._behind_since is None:
                        self._behind_since = self._last_packet_at = now
                    behind_long = now - self._behind_since >= self._policy.small_after
                    if behind_long:
                        self._start_left = 0  # the receiver limits the transfer now
                    small = behind_long and waiting <= self._policy.small_datagram
                    self._every_now = self._every_small if small else self._policy.every
                else:
                    self._caught_up()
            if waiting is None:
                self.sacks_unknown += 1
            elif not waiting:
                self.sacks_idle += 1
                await self._send()
                return
            if self._start_left > 0:
                self._start_left -= self._datagram
                self.sacks_at_start += 1
                await self._send()
                return
        self._seen_tsn = received
        self.sacks_delayed += 1
        if self._timer is None:
            loop = asyncio.get_running_loop()
            self._timer = loop.call_later(self._policy.max_delay, self._on_timer)

    def _caught_up(self) -> None:
        self._behind_since = None
        self._every_now = self._policy.every

    async def _send(self) -> None:
        sctp = self._sctp
        self._acked_tsn = self._seen_tsn = sctp._last_received_tsn
        self._gap_reported = bool(sctp._sack_misordered)
        if sctp._sack_misordered or sctp._sack_duplicates:
            self._quick_left = self._policy.after_loss
            self._caught_up()  # a sender in recovery gets every second packet again
        self.sacks_sent += 1
        await self.build_sack()

    def _on_timer(self) -> None:
        self._timer = None
        sctp = self._sctp
        if not sctp._sack_needed or sctp._association_state == RTCSctpTransport.State.CLOSED:
            return
        if self._flushing is None or self._flushing.done():
            self._flushing = asyncio.ensure_future(self._flush())

    async def _flush(self) -> None:
        if not self._sctp._sack_needed:
            return
        try:
            await self._send()
        except ConnectionError:  # the DTLS transport closed meanwhile: nothing to ack
            logger.debug("delayed SACK dropped: the transport is closed")

    def cancel(self) -> None:
        """Stop the timer (the transport is going away)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None


def install_delayed_ack(
    sctp: RTCSctpTransport | None, policy: AckPolicy = DEFAULT_ACK_POLICY
) -> DelayedAck | None:
    """Put `policy` on `sctp` (idempotent); returns the installed `DelayedAck`, or None
    when nothing was installed: no transport, `policy.every == 1` (aiortc's own
    behaviour), or an aiortc release other than `PINNED_AIORTC` (logged as a warning:
    the transfer works, acknowledging every packet)."""
    if sctp is None or policy.every == 1:
        return None
    existing: Any = getattr(sctp, _MARK, None)
    if isinstance(existing, DelayedAck):
        return existing
    if not supported():
        logger.warning(
            "aiortc %s is not %s: delayed SACK disabled (every packet is acknowledged)",
            aiortc.__version__, PINNED_AIORTC,
        )
        return None
    ack = DelayedAck(sctp, policy)
    ack._install()
    return ack


def delayed_ack_of(sctp: RTCSctpTransport | None) -> DelayedAck | None:
    """The `DelayedAck` installed on `sctp`, if any (tests, benchmarks)."""
    found: Any = getattr(sctp, _MARK, None) if sctp is not None else None
    return found if isinstance(found, DelayedAck) else None
