"""The SCTP sender's window watches the round-trip time: HyStart++ (RFC 9406) ends the
first slow start where the path's queue starts to grow, and in congestion avoidance
the window stops growing, then shrinks, while this sender keeps more than
`QUEUE_BYTES` queued on its path. A small adapter over aiortc's loss-based
(Reno-style) control.

Why: aiortc 1.16 grows its window until a packet is lost, doubling it each round trip
in slow start. A peer whose receive path holds little pays for every overshoot.
Chromium is one: its network service reads the page's UDP socket on one IO thread
with the kernel's default receive buffer, and the renderer's SCTP sits behind that.
Measured on this machine, CLI to page (docs/benchmarks.md, "The sender's window:
HyStart++ and a queue budget"):

- aiortc's first slow start reached a 1.4 MB window at round trips of 100-190 ms
  (the minimum is 1 ms), lost much of a flight at once and spent seconds of a
  16 MiB transfer recovering;
- after that, congestion avoidance grew the window to 100-190 kB, the queue to
  10-27 ms, and lost packets every few round trips, each loss halving the window.

What each part does, per association (`install_delay_control`):

- **Rounds** (`RoundTrips`). A round ends when the cumulative TSN acknowledged passes
  the highest TSN sent when it began (RFC 9406's windowEnd). Each round keeps the
  smallest RTT sample taken in it (aiortc's own samples: Karn's rule kept); the
  smallest over the last `BASE_WINDOW` seconds of rounds is the path's base RTT, its
  delay without a queue.
- **First slow start** (`HyStart`, RFC 9406 §4.2-4.3): once a round has
  `N_RTT_SAMPLE` samples and its minimum has grown by clamp(last round's / 8, 4 ms,
  16 ms), the sender enters Conservative Slow Start: a quarter of slow start's
  growth; a round whose minimum falls back below the one that triggered it says the
  exit was spurious and slow start resumes; after `CSS_ROUNDS` rounds `ssthresh` is
  set to the window and congestion avoidance takes over. Only the first slow start
  (RFC 9406's SHOULD): a loss, a retransmission timeout, or the window reaching the
  peer's receive window ends it.
- **Congestion avoidance** (`QueueBudget`, after TCP Vegas): the bytes queued are
  the window times the share of the last round's RTT above the base RTT. Above
  `QUEUE_BYTES` the window shrinks by a packet at each round's end; above half of it
  aiortc's growth is held back; below, aiortc grows it as before. Never below
  `MIN_WINDOW_PACKETS` packets; never in fast recovery, where aiortc's own rules run
  alone. A budget in bytes, not in time: the queue that overflows is a socket's,
  counted in packets, and a receiver starved of CPU for a moment stretches the round
  trip without anything more being queued (a time target shrank the window on
  every such moment; docs/benchmarks.md).

What it trades: on a path whose bottleneck queue is deeper than the budget, this
sender fills only `QUEUE_BYTES` of it (Vegas's trait), so it gets a smaller share
than loss-based flows sharing that queue; it still fills the path itself (the
window is at least the bandwidth-delay product plus the budget), and a lost packet
still halves the window as before. It only ever makes the window smaller than
aiortc's own; what is sent, retransmitted and acknowledged is aiortc's code.

It relies on aiortc internals (`_receive_sack_chunk`, `_update_rto`, `_cwnd`,
`_ssthresh`, `_fast_recovery_exit`, `_sent_queue`), installs only on the pinned
aiortc release, and tests/unit/test_sctp_delay.py pins their source.
"""

from __future__ import annotations

import enum
import math
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiortc.rtcsctptransport import USERDATA_MAX_LENGTH, RTCSctpTransport
from aiortc.utils import uint32_gte

from .sctp_pmtu import path_mtu_of, supported

MIN_RTT_THRESH = 0.004
MAX_RTT_THRESH = 0.016
MIN_RTT_DIVISOR = 8
N_RTT_SAMPLE = 8
CSS_GROWTH_DIVISOR = 4
CSS_ROUNDS = 5
"""RFC 9406 §4.3's constants (seconds where they are times)."""

BASE_WINDOW = 10.0
"""Seconds of rounds the base RTT is the minimum of: a path that changes (an ICE
restart, a new route) is measured afresh within this long."""
QUEUE_BYTES = 128 * 1024
"""The most this sender keeps queued on its path. A receive path's shallowest queue
is usually the receiving socket: Linux's default receive buffer (208 KiB counted
with the kernel's per-packet overhead) holds about 90 packets of 1,400 bytes, and a
browser's network service reads its socket on one busy IO thread."""
MIN_WINDOW_PACKETS = 4
"""The window's floor, aiortc's own after a loss."""

_MARK = "_sgraph_send_delay_control"


@dataclass
class RoundTrips:
    """Rounds of one sender and the RTT samples taken in them."""

    window_end: int | None = None
    round_min: float = math.inf
    last_round_min: float = math.inf
    samples: int = 0
    least: float = math.inf
    """The least RTT sample of the association: the path's round trip, no queue in it
    (what the flow-control window's tuning reads, `DataPipe.path_rtt`)."""
    mins: deque[tuple[float, float]] = field(default_factory=deque)
    """(time, minimum) of the ended rounds within `BASE_WINDOW` that a later round has
    not undercut: minimums rise from first to last, so the first is the base. (On
    loopback a round lasts a millisecond: a min() over every round of 10 s, twice per
    SACK, was an eighth of a sending CLI's time.)"""

    def acknowledged(self, cumulative_tsn: int, highest_sent: int, now: float) -> bool:
        """A SACK acknowledged up to `cumulative_tsn`, with `highest_sent` the highest
        TSN sent so far: True when it ended a round (the next ends at `highest_sent`)."""
        if self.window_end is not None and not uint32_gte(cumulative_tsn, self.window_end):
            return False
        ended = self.window_end is not None
        if ended and not math.isinf(self.round_min):
            mins = self.mins
            while mins and mins[-1][1] >= self.round_min:
                mins.pop()  # never the base again: this round is as low and ends later
            mins.append((now, self.round_min))
            while mins[0][0] < now - BASE_WINDOW:
                mins.popleft()
        self.window_end = highest_sent
        self.last_round_min, self.round_min, self.samples = self.round_min, math.inf, 0
        return ended

    def rtt(self, sample: float) -> None:
        self.round_min = min(self.round_min, sample)
        self.least = min(self.least, sample)
        self.samples += 1

    @property
    def base(self) -> float:
        """The smallest round minimum within `BASE_WINDOW` (inf before a round ends)."""
        return self.mins[0][1] if self.mins else math.inf

    @property
    def queueing(self) -> float:
        """The last ended round's queueing delay: its minimum less the base RTT."""
        return self.last_round_min - self.base


class Phase(enum.Enum):
    SLOW_START = "slow start"
    CSS = "conservative slow start"
    DONE = "done"
    """Congestion avoidance, or any later slow start: no more HyStart++."""


@dataclass
class HyStart:
    """RFC 9406's decisions in the first slow start; pure."""

    phase: Phase = Phase.SLOW_START
    css_baseline: float = math.inf
    css_rounds: int = 0
    exit_window: int | None = None
    """The window (bytes) when slow start ended on delay (benchmarks, tests)."""

    def round_ended(self) -> None:
        if self.phase is Phase.CSS:
            self.css_rounds += 1  # the round CSS began in counts (RFC 9406 §4.2)

    def sampled(self, rounds: RoundTrips, window: int) -> None:
        """After each RTT sample of `rounds`, taken with a `window`-byte window."""
        if self.phase is Phase.DONE or rounds.samples < N_RTT_SAMPLE:
            return
        if self.phase is Phase.SLOW_START:
            last = rounds.last_round_min
            if math.isinf(last):
                return
            threshold = max(MIN_RTT_THRESH, min(last / MIN_RTT_DIVISOR, MAX_RTT_THRESH))
            if rounds.round_min >= last + threshold:
                self.phase, self.css_baseline, self.css_rounds = Phase.CSS, rounds.round_min, 0
                self.exit_window = window
        elif rounds.round_min < self.css_baseline:  # the delay fell back: spurious exit
            self.phase, self.css_baseline, self.exit_window = Phase.SLOW_START, math.inf, None

    def grown(self, before: int, after: int) -> int:
        """The window after one SACK grew it from `before` to `after` in slow start."""
        if self.phase is Phase.CSS and after > before:
            return before + (after - before) // CSS_GROWTH_DIVISOR
        return after

    @property
    def css_over(self) -> bool:
        return self.phase is Phase.CSS and self.css_rounds >= CSS_ROUNDS


@dataclass
class QueueBudget:
    """Congestion avoidance's ceiling on the bytes this sender keeps queued; pure."""

    budget: int = QUEUE_BYTES
    shrunk: int = 0
    held: int = 0
    """Rounds that shrank the window, and SACKs whose growth was held back (counts)."""

    @staticmethod
    def queued(rounds: RoundTrips, window: int) -> float:
        """The bytes of `window` waiting in queues rather than moving (TCP Vegas's
        diff): the window times the share of the last round's RTT that was queueing."""
        rtt = rounds.last_round_min
        return window * (1 - rounds.base / rtt) if 0 < rtt < math.inf else 0.0

    def window(self, rounds: RoundTrips, before: int, after: int, packet: int,
               round_ended: bool) -> int:
        """The window after a SACK of congestion avoidance took it from `before` to
        `after`: a packet smaller at a round's end while more than the budget is
        queued, held while more than half of it is, else as aiortc grew it."""
        if math.isinf(rounds.base):
            return after
        queued = self.queued(rounds, before)
        if queued > self.budget:
            if not round_ended:
                return min(before, after)
            self.shrunk += 1
            return max(MIN_WINDOW_PACKETS * packet, min(before, after) - packet)
        if queued > self.budget / 2 and after > before:
            self.held += 1
            return before
        return after


@dataclass
class DelayControl:
    """One association's rounds, HyStart++ and queue budget (`install_delay_control`)."""

    rounds: RoundTrips = field(default_factory=RoundTrips)
    hystart: HyStart = field(default_factory=HyStart)
    budget: QueueBudget = field(default_factory=QueueBudget)


def delay_control_of(sctp: RTCSctpTransport | None) -> DelayControl | None:
    found = getattr(sctp, _MARK, None)
    return found if isinstance(found, DelayControl) else None


def install_delay_control(sctp: RTCSctpTransport | None,
                          clock: Callable[[], float] = time.monotonic) -> DelayControl | None:
    """Give `sctp`'s sender HyStart++ and the queue budget (idempotent). None when
    nothing was installed: no transport, or another aiortc than the pinned one.
    Install it after the path-MTU adapter (a packet is its size) and after the
    adapters that also wrap `_receive_sack_chunk`."""
    if sctp is None:
        return None
    if (existing := delay_control_of(sctp)) is not None:
        return existing
    if not supported():
        return None
    control = DelayControl()
    rounds, hystart, budget = control.rounds, control.hystart, control.budget
    receive_sack = sctp._receive_sack_chunk
    update_rto = sctp._update_rto
    initial_ssthresh: list[int] = []  # aiortc sets it from the peer's INIT: read at first use

    # the path-MTU adapter (installed before) updates its globals in place as it learns
    path_mtu = path_mtu_of(sctp)
    sizes = path_mtu.globals if path_mtu else {"USERDATA_MAX_LENGTH": USERDATA_MAX_LENGTH}

    def on_rtt(sample: float) -> None:
        update_rto(sample)
        rounds.rtt(sample)
        hystart.sampled(rounds, sctp._cwnd)

    async def on_sack(chunk: Any) -> None:
        if not initial_ssthresh:
            initial_ssthresh.append(sctp._ssthresh)
        round_ended = bool(sctp._sent_queue) and rounds.acknowledged(
            chunk.cumulative_tsn, sctp._sent_queue[-1].tsn, clock())
        if round_ended:
            hystart.round_ended()
        before = sctp._cwnd
        slow_start = before <= sctp._ssthresh
        recovering = sctp._fast_recovery_exit is not None
        await receive_sack(chunk)
        if recovering or sctp._fast_recovery_exit is not None:
            hystart.phase = Phase.DONE  # a loss: aiortc's rules alone until it is over
            return
        if hystart.phase is not Phase.DONE:
            if sctp._ssthresh != initial_ssthresh[0] or not slow_start:
                hystart.phase = Phase.DONE  # a timeout, or the peer's window reached
            else:
                sctp._cwnd = hystart.grown(before, sctp._cwnd)
                if hystart.css_over:
                    # aiortc's slow start runs while cwnd <= ssthresh (RFC 4960 §7.2.1)
                    sctp._ssthresh = sctp._cwnd - 1
                    hystart.phase = Phase.DONE
                return
        if not slow_start:
            packet = int(sizes["USERDATA_MAX_LENGTH"])
            sctp._cwnd = budget.window(rounds, before, sctp._cwnd, packet, round_ended)

    sctp._receive_sack_chunk = on_sack  # type: ignore[method-assign]
    sctp._update_rto = on_rtt  # type: ignore[method-assign,assignment]
    setattr(sctp, _MARK, control)
    return control
