"""The sender's flow-control window and the `--limit-rate` token bucket."""

import asyncio
import heapq
import time

import pytest

from transfer_core.protocol.ranges import RangeSet
from transfer_core.transport.rate import RateLimit, parse_rate
from transfer_core.transport.window import (
    FLOW_WINDOW_BYTES,
    FLOW_WINDOW_MAX_BYTES,
    SendWindow,
    WindowTuning,
)

KiB = 1024
MiB = 1024 * KiB


def held(universe: int, *ranges: tuple[int, int]) -> RangeSet:
    return RangeSet(universe, list(ranges))


def test_a_record_waits_once_the_window_is_full_and_goes_when_acknowledged() -> None:
    window = SendWindow(limit=3 * 64 * KiB)
    for index in range(3):
        assert window.has_room(64 * KiB)
        window.sent(index, 64 * KiB)
    assert not window.has_room(64 * KiB)
    window.acked(held(10, (0, 1)))
    assert window.outstanding == 2 * 64 * KiB and window.has_room(64 * KiB)
    assert window.peak == 3 * 64 * KiB


def test_acknowledgements_release_in_sending_order_only() -> None:
    """A `have` naming a later record but not the first (impossible on one ordered
    channel) releases nothing: the window errs on the safe side."""
    window = SendWindow(limit=2)
    window.sent(4, 1)
    window.sent(5, 1)
    window.acked(held(10, (5, 6)))
    assert window.outstanding == 2
    window.acked(held(10, (0, 6)))  # what a resumed receiver held before counts too
    assert window.outstanding == 0


def test_one_record_larger_than_the_window_still_goes_alone() -> None:
    window = SendWindow(limit=10)
    assert window.has_room(50)
    window.sent(0, 50)
    assert not window.has_room(1)


async def test_a_waiting_sender_wakes_on_an_ack_and_on_close() -> None:
    window = SendWindow(limit=1)
    window.sent(0, 1)
    waiter = asyncio.create_task(window.room_for(1))
    await asyncio.sleep(0.01)
    assert not waiter.done()
    window.acked(held(4, (0, 1)))
    await asyncio.wait_for(waiter, 1)
    window.sent(1, 1)
    waiter = asyncio.create_task(window.room_for(1))
    await asyncio.sleep(0.01)
    window.close()  # the receiver's acks ended (done, fail or a break): never hang
    await asyncio.wait_for(waiter, 1)


# --- the window grows to what a long path needs ------------------------------------------


def test_the_limit_is_its_start_and_twice_what_the_path_holds() -> None:
    tuning = WindowTuning(start=2 * MiB, most=8 * MiB)
    # times in eighths of a second: exact in binary; a path of 125 ms
    tuning.released(MiB, now=0.125, path_rtt=None)  # no round trip yet: a period starts
    assert tuning.limit == 2 * MiB
    tuning.released(MiB, now=0.1875, path_rtt=0.125)  # half a round trip in: wait
    assert tuning.limit == 2 * MiB
    tuning.released(2 * MiB, now=0.25, path_rtt=0.125)  # 3 MiB in one round trip
    assert tuning.limit == 2 * MiB + 6 * MiB  # the start and twice 3 MiB: the ceiling
    tuning.released(9 * MiB, now=0.5, path_rtt=0.125)
    assert tuning.limit == 8 * MiB  # never past it
    tuning = WindowTuning(start=2 * MiB, most=8 * MiB)
    tuning.released(MiB, now=0.0, path_rtt=0.125)
    tuning.released(MiB, now=0.25, path_rtt=0.125)  # 1 MiB in two round trips
    assert tuning.limit == 3 * MiB
    tuning.released(MiB // 4, now=0.375, path_rtt=0.125)  # 2.5 MiB wanted
    assert tuning.limit == 3 * MiB  # never less than it was


def test_a_short_round_trip_measures_over_min_period_and_grows_next_to_nothing() -> None:
    tuning = WindowTuning(start=2 * MiB, most=8 * MiB)
    tuning.released(MiB, now=0.0, path_rtt=0.0002)  # loopback: 0.2 ms
    tuning.released(MiB, now=0.001, path_rtt=0.0002)  # 1 GB/s over 1 ms: not a rate yet
    assert tuning.limit == 2 * MiB
    for step in range(2, 200):  # 1 MiB a `have`, 100 MB/s
        tuning.released(MiB, now=step * 0.01, path_rtt=0.0002)
    assert 2 * MiB < tuning.limit < 2 * MiB + 50_000  # 2 x 100 MB/s x 0.2 ms = 40 KB
    assert WindowTuning(start=4 * MiB, most=MiB).most == 4 * MiB  # never under the start


def _simulate(rtt: float, link: float, service: float | None = None,
              records: int = 600, record: int = 128 * KiB, ack_every: int = 8,
              ) -> tuple[SendWindow, float]:
    """A sender, a link of `link` bytes/s and `rtt` seconds, and a receiver that takes
    `service` bytes/s (None: at once) and sends a `have` every `ack_every` records, as
    the CLI does at each checkpoint. Returns the window and the seconds it all took."""
    clock = [0.0]
    window = SendWindow(clock=lambda: clock[0], path_rtt=lambda: rtt)
    acks: list[tuple[float, int]] = []
    sent = 0
    link_free = receiver_free = 0.0
    while sent < records or acks:
        while sent < records and window.has_room(record):
            window.sent(sent, record)
            link_free = max(clock[0], link_free) + record / link
            saved = max(link_free + rtt / 2, receiver_free) + (record / service if service else 0)
            receiver_free = saved
            if (sent + 1) % ack_every == 0 or sent + 1 == records:
                heapq.heappush(acks, (saved + rtt / 2, sent))
            sent += 1
        clock[0], last = heapq.heappop(acks)
        window.acked(RangeSet(records, [(0, last + 1)]))
    return window, clock[0]


BATCH = 8 * 128 * KiB
"""What one `have` of `_simulate`'s receiver acknowledges."""


def _wanted(rtt: float, rate: float) -> float:
    """The window's start (which covers the batch a `have` waits for) and twice what
    a path of `rate` bytes/s and `rtt` seconds holds."""
    return FLOW_WINDOW_BYTES + 2 * rate * rtt


def _simulate_fixed(**path: float) -> tuple[SendWindow, float]:
    """`_simulate` with a window that never grows (every connection's before)."""
    original = WindowTuning.released
    WindowTuning.released = lambda self, *args: None  # type: ignore[method-assign]
    try:
        return _simulate(**path)  # type: ignore[arg-type]
    finally:
        WindowTuning.released = original  # type: ignore[method-assign]


def test_a_long_fast_path_grows_the_window_to_its_ceiling_and_fills_the_link() -> None:
    window, seconds = _simulate(rtt=0.1, link=50e6)  # 5 MB in flight fill it
    assert window.limit == FLOW_WINDOW_MAX_BYTES
    fixed, fixed_seconds = _simulate_fixed(rtt=0.1, link=50e6)
    assert fixed.limit == FLOW_WINDOW_BYTES
    assert seconds < fixed_seconds / 2  # the fixed window: 2 MiB a round trip


@pytest.mark.parametrize(("rtt", "link"), [(0.1, 15e6), (0.15, 12e6)])
def test_a_long_slower_path_grows_it_to_about_twice_what_the_path_holds(
    rtt: float, link: float,
) -> None:
    window, seconds = _simulate(rtt=rtt, link=link)
    assert FLOW_WINDOW_BYTES < window.limit < FLOW_WINDOW_MAX_BYTES
    assert window.limit <= _wanted(rtt, link) * 1.05
    _, fixed_seconds = _simulate_fixed(rtt=rtt, link=link)
    assert seconds < fixed_seconds * 0.9


@pytest.mark.parametrize(("rtt", "link", "service"), [
    (0.02, 15e6, None),  # 20 ms of WAN: 0.3 MB fill it
    (0.002, 100e6, None),  # a LAN
    (0.0002, 1e9, 50e6), (0.0002, 1e9, 300e6),  # loopback: the receiver is the queue
])
def test_a_short_path_leaves_it_near_where_it_starts(
    rtt: float, link: float, service: float | None,
) -> None:
    window, seconds = _simulate(rtt=rtt, link=link, service=service)
    assert window.limit <= max(FLOW_WINDOW_BYTES, _wanted(rtt, min(link, service or link)) * 1.05)
    assert window.limit < FLOW_WINDOW_BYTES + BATCH
    _, fixed_seconds = _simulate_fixed(rtt=rtt, link=link, service=service)  # type: ignore[arg-type]
    assert seconds == pytest.approx(fixed_seconds, rel=0.01)  # it was never the bound


@pytest.mark.parametrize(("text", "rate"), [
    ("2000000", 2_000_000), ("500K", 500 * KiB), ("4M", 4 * KiB * KiB), ("4m", 4 * KiB * KiB),
    ("1.5M", int(1.5 * KiB * KiB)), ("2MB/s", 2 * KiB * KiB), ("1G", KiB**3),
    (" 8MiB ", 8 * KiB**2),
])
def test_rates_read_as_curl_reads_them(text: str, rate: int) -> None:
    assert parse_rate(text) == rate


@pytest.mark.parametrize("text", ["", "fast", "-1M", "4X", "1e6", "100", "0K"])
def test_a_rate_that_is_not_one_is_refused(text: str) -> None:
    with pytest.raises(ValueError):
        parse_rate(text)


async def test_the_limit_holds_the_average_rate() -> None:
    limit = RateLimit(1024 * KiB, burst=64 * KiB)
    started = time.monotonic()
    for _ in range(9):  # the first 64 KiB are the burst; the other 512 KiB wait
        await limit.take(64 * KiB)
    # a lower bound only: sleeping can take longer on a loaded machine, never shorter
    assert time.monotonic() - started >= 0.5 * 0.95
