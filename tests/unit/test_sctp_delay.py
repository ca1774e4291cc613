"""The sender's window watches the round trip (`transfer_core.webrtc.sctp_delay`):
HyStart++ in the first slow start, the queueing-delay ceiling in congestion
avoidance. The pure parts alone, then a real aiortc association driven by SACKs
whose round-trip times the test sets. The lossy integration tests
(tests/integration/test_sctp_ack.py, test_sctp_pmtu.py) run real peers with it
installed over links that drop, duplicate and reorder."""

from __future__ import annotations

import inspect
import math
import random
import time
from typing import Any

from aiortc.rtcsctptransport import USERDATA_MAX_LENGTH, RTCSctpTransport, SackChunk

from tests.unit.pins import assert_unchanged
from tests.unit.test_sctp_pmtu import _association
from transfer_core.webrtc.sctp_delay import (
    BASE_WINDOW,
    CSS_ROUNDS,
    MIN_WINDOW_PACKETS,
    N_RTT_SAMPLE,
    QUEUE_BYTES,
    HyStart,
    Phase,
    QueueBudget,
    RoundTrips,
    delay_control_of,
    install_delay_control,
)
from transfer_core.webrtc.sctp_pmtu import install_path_mtu
from transfer_core.webrtc.sctp_transmit import install_lean_transmit

# sha256 (first 16 hex digits) of the aiortc source this adapter relies on
PINNED_SOURCES = {
    "_receive_sack_chunk": "4b35ccf1372cdec8",
    "_update_rto": "a1e7afb18886a101",
    "_t3_expired": "0e759bf4b1b2d8c8",
}


def test_aiortc_sources_are_unchanged() -> None:
    assert_unchanged(RTCSctpTransport, PINNED_SOURCES, "sctp_delay.py")


def test_aiortc_samples_rtt_through_the_method_the_adapter_shadows() -> None:
    sack = inspect.getsource(RTCSctpTransport._receive_sack_chunk)
    assert "self._update_rto(received_time - schunk._sent_time)" in sack
    assert "if self._cwnd <= self._ssthresh:" in sack  # slow start while cwnd <= ssthresh


# -- the pure parts ---------------------------------------------------------------


def _round(rounds: RoundTrips, hystart: HyStart, rtt: float, end: int, now: float) -> None:
    """One round of `N_RTT_SAMPLE` samples of `rtt`, ended by acknowledging `end`."""
    for _ in range(N_RTT_SAMPLE):
        rounds.rtt(rtt)
        hystart.sampled(rounds, window=end)
    if rounds.acknowledged(end, end + 10, now):
        hystart.round_ended()


def test_rounds_end_where_the_highest_tsn_sent_at_their_start_is_acknowledged() -> None:
    rounds = RoundTrips()
    assert not rounds.acknowledged(100, 110, now=0.0)  # the first SACK starts round one
    assert not rounds.acknowledged(109, 120, now=0.1)
    assert rounds.acknowledged(110, 130, now=0.2)
    # across the TSN wrap
    rounds = RoundTrips()
    rounds.acknowledged(2**32 - 5, 3, now=0.0)
    assert not rounds.acknowledged(2**32 - 1, 9, now=0.1)
    assert rounds.acknowledged(3, 9, now=0.2)


def test_the_base_rtt_is_the_least_round_minimum_of_the_last_ten_seconds() -> None:
    rounds = RoundTrips()
    rounds.acknowledged(0, 10, now=0.0)
    for now, rtt in ((1.0, 0.002), (2.0, 0.050), (11.5, 0.030)):
        rounds.rtt(rtt)
        rounds.acknowledged(int(now * 100), int(now * 100) + 10, now=now)
    # the 2 ms round is older than ten seconds at 11.5 s: a changed path is learnt anew
    assert rounds.base == 0.030
    assert math.isclose(rounds.queueing, 0.0)


def test_the_base_rtt_is_the_sliding_minimum_over_thousands_of_short_rounds() -> None:
    # loopback's rounds last about a millisecond: the base is kept without a scan of every
    # round of the last ten seconds, and must still be exactly that scan's answer
    rng = random.Random(14)
    rounds = RoundTrips()
    rounds.acknowledged(0, 1, now=0.0)
    ended: list[tuple[float, float]] = []
    now = 0.0
    for tsn in range(1, 30_000):
        now += 0.5 if rng.random() < 0.01 else rng.choice((0.0005, 0.001, 0.002))
        rtt = rng.uniform(0.0002, 0.05)
        rounds.rtt(rtt)
        rounds.acknowledged(tsn, tsn + 1, now=now)
        ended.append((now, rtt))
        if tsn % 997 == 0:
            expected = min(m for t, m in ended if t >= now - BASE_WINDOW)
            assert rounds.base == expected
    # what is kept: a few rounds, not the ~1,600 of the last ten seconds
    assert len(rounds.mins) < 100, len(rounds.mins)


def _after_a_round_of(rtt: float) -> tuple[RoundTrips, HyStart]:
    rounds, hystart = RoundTrips(), HyStart()
    rounds.acknowledged(0, 10, now=0.0)
    _round(rounds, hystart, rtt, 10, 0.1)
    return rounds, hystart


def test_slow_start_ends_when_a_round_s_minimum_grows_by_the_threshold() -> None:
    # 10 ms / 8 is below the 4 ms floor: 13.9 ms is not enough, 14 ms is
    rounds, hystart = _after_a_round_of(0.010)
    for _ in range(2 * N_RTT_SAMPLE):
        rounds.rtt(0.0139)
        hystart.sampled(rounds, window=5000)
    assert hystart.phase is Phase.SLOW_START
    rounds, hystart = _after_a_round_of(0.010)
    for _ in range(N_RTT_SAMPLE - 1):
        rounds.rtt(0.014)
        hystart.sampled(rounds, window=5000)
    assert hystart.phase is Phase.SLOW_START  # not before N_RTT_SAMPLE samples
    rounds.rtt(0.014)
    hystart.sampled(rounds, window=5000)
    assert hystart.phase is Phase.CSS and hystart.exit_window == 5000
    # at 200 ms the threshold is 16 ms (the ceiling), not 200 / 8
    rounds, hystart = _after_a_round_of(0.200)
    for _ in range(N_RTT_SAMPLE):
        rounds.rtt(0.2165)
        hystart.sampled(rounds, window=5000)
    assert hystart.phase is Phase.CSS


def test_conservative_slow_start_grows_a_quarter_and_ends_after_its_rounds() -> None:
    rounds, hystart = RoundTrips(), HyStart(phase=Phase.CSS, css_baseline=0.020)
    rounds.acknowledged(0, 10, now=0.0)
    assert hystart.grown(10_000, 11_200) == 10_300
    assert hystart.grown(10_000, 9_000) == 9_000  # never holds a shrink back
    for n in range(1, CSS_ROUNDS + 1):
        assert not hystart.css_over
        _round(rounds, hystart, 0.025, 10 * n, 0.1 * n)
    assert hystart.css_over and hystart.phase is Phase.CSS


def test_a_round_back_below_the_baseline_resumes_slow_start() -> None:
    rounds, hystart = RoundTrips(), HyStart(phase=Phase.CSS, css_baseline=0.020)
    rounds.acknowledged(0, 10, now=0.0)
    _round(rounds, hystart, 0.019, 10, 0.1)
    assert hystart.phase is Phase.SLOW_START and math.isinf(hystart.css_baseline)
    assert hystart.grown(10_000, 11_200) == 11_200


def _ended_round(rtts: list[float]) -> RoundTrips:
    """Rounds whose minimums were `rtts`, the last one just ended."""
    rounds = RoundTrips()
    rounds.acknowledged(0, 10, now=0.0)
    for n, rtt in enumerate(rtts, start=1):
        rounds.rtt(rtt)
        rounds.acknowledged(10 * n, 10 * n + 10, now=0.1 * n)
    return rounds


def test_the_bytes_queued_are_the_window_s_share_of_the_rtt_above_the_base() -> None:
    rounds = _ended_round([0.010, 0.040])  # 30 of 40 ms queueing
    assert math.isclose(QueueBudget.queued(rounds, 400_000), 300_000)
    assert QueueBudget.queued(_ended_round([0.010]), 400_000) == 0.0
    assert QueueBudget.queued(RoundTrips(), 400_000) == 0.0


def test_the_budget_shrinks_holds_or_lets_grow_by_the_bytes_queued() -> None:
    budget, packet = QueueBudget(), 1000
    half_queueing = _ended_round([0.001, 0.002])  # half of each round trip in a queue
    over, between, under = 2 * QUEUE_BYTES + 2000, QUEUE_BYTES + 2000, QUEUE_BYTES - 2000
    assert budget.window(half_queueing, over, over + 1000, packet, round_ended=True) == over - 1000
    assert budget.window(half_queueing, over, over + 1000, packet, round_ended=False) == over
    assert budget.window(half_queueing, between, between + 1000, packet, True) == between
    assert budget.window(half_queueing, under, under + 1000, packet, True) == under + 1000
    assert (budget.shrunk, budget.held) == (1, 1)
    # however much is queued, never below the floor
    floor = MIN_WINDOW_PACKETS * packet
    assert QueueBudget(budget=0).window(half_queueing, floor, floor, packet, True) == floor


def test_no_budget_before_a_round_has_a_sample() -> None:
    assert QueueBudget().window(RoundTrips(), 10**6, 10**6 + 1000, 1000, round_ended=True) \
        == 10**6 + 1000


# -- on a real aiortc association -------------------------------------------------


def _sender(delay_control: bool) -> Any:
    sctp = _association()
    sctp._cwnd = 3 * USERDATA_MAX_LENGTH  # aiortc's initial window
    sctp._ssthresh = 4 << 20  # as a peer's INIT sets it: its receive window
    install_path_mtu(sctp, ())
    install_lean_transmit(sctp)
    if delay_control:
        assert install_delay_control(sctp) is install_delay_control(sctp)  # idempotent
    return sctp


def _sack(cumulative_tsn: int) -> SackChunk:
    sack = SackChunk()
    sack.cumulative_tsn = cumulative_tsn
    sack.advertised_rwnd = 4 << 20
    sack.gaps = []
    return sack


async def _acknowledge_round(sctp: Any, rtt: float) -> None:
    """Acknowledge every chunk in flight, two per SACK, each SACK's RTT sample `rtt`."""
    flight = [chunk.tsn for chunk in sctp._sent_queue]
    for tsn in flight[1::2] or flight[-1:]:
        sctp._sent_queue[0]._sent_time = time.time() - rtt  # the sample aiortc takes
        await sctp._receive_sack_chunk(_sack(tsn))


async def _queue(sctp: Any, total: int) -> None:
    for _ in range(total // 60_000):
        await sctp._send(stream_id=1, pp_id=53, user_data=b"x" * 60_000)


async def test_the_first_slow_start_ends_where_the_round_trip_grows() -> None:
    """Round trips of 1 ms, then a queue's worth more once the window passes 60 kB:
    aiortc alone grows on (half again a round, at a SACK per two packets) toward the
    peer's window; with the adapter slow start stops within a round of the growth,
    grows a quarter as fast for five rounds, and congestion avoidance takes over."""
    windows = {}
    for with_control in (False, True):
        sctp = _sender(with_control)
        await _queue(sctp, 6 << 20)
        for _ in range(14):
            queue = sctp._cwnd / 10e6  # a 10 MB/s bottleneck's queue behind the window
            await _acknowledge_round(sctp, 0.001 if sctp._cwnd < 60_000 else 0.001 + queue)
        windows[with_control] = sctp._cwnd
        sctp._t3_cancel()
        if with_control:
            control = delay_control_of(sctp)
            assert control is not None and control.hystart.phase is Phase.DONE
            assert control.hystart.exit_window is not None
            assert 60_000 <= control.hystart.exit_window < 200_000
            assert sctp._ssthresh < sctp._cwnd  # congestion avoidance: aiortc's own rule
    assert windows[False] > 800_000
    assert windows[True] < 300_000


async def test_congestion_avoidance_shrinks_while_too_much_is_queued_and_grows_once_not(
) -> None:
    sctp = _sender(True)
    control = delay_control_of(sctp)
    assert control is not None
    control.hystart.phase = Phase.DONE
    sctp._cwnd, sctp._ssthresh = 300 * USERDATA_MAX_LENGTH, 150 * USERDATA_MAX_LENGTH
    await _queue(sctp, 12 << 20)
    for _ in range(3):
        await _acknowledge_round(sctp, 0.001)
    windows = []
    for _ in range(10):
        # round trips ten times the base: 90 % of a 348 kB window (313 kB) queued
        await _acknowledge_round(sctp, 0.010)
        windows.append(sctp._cwnd)
    # a packet less each round, from the first round that ended with the queue in it
    assert [a - b for a, b in zip(windows[1:-1], windows[2:], strict=True)] == [
        USERDATA_MAX_LENGTH] * 8
    low = sctp._cwnd
    for _ in range(10):
        await _acknowledge_round(sctp, 0.001)
    assert sctp._cwnd > low  # aiortc's congestion avoidance grows it again
    sctp._t3_cancel()


async def test_a_window_within_the_budget_is_left_to_aiortc() -> None:
    """A slow receiver stretching every round trip tenfold, a 58 kB window: less than
    the budget can be queued, so the window grows as aiortc's own would."""
    after = {}
    for with_control in (False, True):
        sctp = _sender(with_control)
        if with_control:
            control = delay_control_of(sctp)
            assert control is not None
            control.hystart.phase = Phase.DONE
        sctp._cwnd, sctp._ssthresh = 50 * USERDATA_MAX_LENGTH, 25 * USERDATA_MAX_LENGTH
        await _queue(sctp, 4 << 20)
        await _acknowledge_round(sctp, 0.001)
        for _ in range(10):
            await _acknowledge_round(sctp, 0.010)
        after[with_control] = sctp._cwnd
        sctp._t3_cancel()
    assert after[True] == after[False] > 50 * USERDATA_MAX_LENGTH


async def test_a_loss_in_slow_start_leaves_aiortc_s_own_answer_and_ends_hystart() -> None:
    """The same SACKs to aiortc alone and to the adapter: the same window after a loss."""
    after = {}
    for with_control in (False, True):
        sctp = _sender(with_control)
        await _queue(sctp, 2 << 20)
        for _ in range(4):
            await _acknowledge_round(sctp, 0.001)
        first = sctp._sent_queue[0].tsn
        for n in range(3):  # the chunk after `first` missing, reported three times
            sack = _sack(first)
            sack.gaps = [(2, 2 + n)]
            await sctp._receive_sack_chunk(sack)
        assert sctp._fast_recovery_exit is not None
        after[with_control] = (sctp._cwnd, sctp._ssthresh)
        sctp._t3_cancel()
        if with_control:
            control = delay_control_of(sctp)
            assert control is not None and control.hystart.phase is Phase.DONE
    assert after[True] == after[False]
