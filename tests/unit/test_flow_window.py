"""The sender's flow-control window and the `--limit-rate` token bucket."""

import asyncio
import time

import pytest

from transfer_core.protocol.ranges import RangeSet
from transfer_core.transport.rate import RateLimit, parse_rate
from transfer_core.transport.window import SendWindow

KiB = 1024


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
