"""The guarded `_transmit` (`transfer_core.webrtc.sctp_transmit`): aiortc's own but for
the guard on its retransmission walk, installed per association; chunks marked by a
SACK's gap reports or by the retransmission timer are still re-sent. The lossy
integration tests (tests/integration/test_sctp_ack.py, test_sctp_pmtu.py) drop,
duplicate and reorder real peers' packets with it installed."""

from __future__ import annotations

import ast
import asyncio
import inspect
import random
import textwrap
from collections import deque
from typing import Any

import aiortc.rtcsctptransport as sctp_module
import pytest
from aiortc.rtcsctptransport import DataChunk, RTCSctpTransport, SackChunk, parse_packet
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.unit.pins import assert_unchanged
from tests.unit.test_sctp_gaps import blocks_of
from tests.unit.test_sctp_pmtu import _association
from transfer_core.webrtc import sctp_sent_gaps, sctp_transmit
from transfer_core.webrtc.sctp_pmtu import install_path_mtu
from transfer_core.webrtc.sctp_transmit import RetransmitMarks, install_lean_transmit

# sha256 (first 16 hex digits) of the aiortc source this adapter copies or relies on
PINNED_SOURCES = {
    "_transmit": "aa8941d5f8f020e8",
    "_receive_sack_chunk": "4b35ccf1372cdec8",
    "_t3_expired": "0e759bf4b1b2d8c8",
}


def test_aiortc_sources_are_unchanged() -> None:
    assert_unchanged(RTCSctpTransport, PINNED_SOURCES, "sctp_transmit.py")


def test_only_a_gapped_sack_and_the_timer_mark_chunks() -> None:
    module = inspect.getsource(sctp_module)
    assert module.count("._retransmit = True") == 2
    sack = inspect.getsource(RTCSctpTransport._receive_sack_chunk)
    assert "._retransmit = True" in sack
    # the strikes that mark happen under `if chunk.gaps:` alone
    gaps = sack.index("if chunk.gaps:")
    assert gaps < sack.index("._retransmit = True") < sack.index("# adjust congestion window")
    assert "._retransmit = True" in inspect.getsource(RTCSctpTransport._t3_expired)


class _Unguard(ast.NodeTransformer):
    """Our copy, read back without its guard: the guarded block inline, the span's
    walk read as aiortc's walk of the whole queue, the guard's own statements gone."""

    MARKS = f"self.{sctp_transmit.MARKS}"

    def visit_If(self, node: ast.If) -> Any:
        self.generic_visit(node)
        if ast.unparse(node.test) == "walk is not None":
            return node.body
        return node

    def visit_Try(self, node: ast.Try) -> Any:
        self.generic_visit(node)
        handler = node.handlers[0] if len(node.handlers) == 1 else None
        if handler is not None and [type(n) for n in handler.body] == [ast.Raise]:
            return node.body  # the guard's handler, its re-marking gone already
        return node

    def visit_Assign(self, node: ast.Assign) -> Any:
        target, value = ast.unparse(node.targets[0]), ast.unparse(node.value)
        if target == "walk" and value.startswith(f"{self.MARKS}.take("):
            return None
        if target == "retransmit_earliest" and value == "walk.from_front":
            node.value = ast.Constant(True)
        return node

    def visit_Expr(self, node: ast.Expr) -> Any:
        if ast.unparse(node.value).startswith(f"{self.MARKS}.mark("):
            return None
        return node

    def visit_For(self, node: ast.For) -> Any:
        self.generic_visit(node)
        if ast.unparse(node.iter) == "walk.chunks":
            node.iter = ast.parse("self._sent_queue", mode="eval").body
        return node


def _body(function: Any, unguard: bool = False) -> str:
    tree = ast.parse(textwrap.dedent(inspect.getsource(function)))
    body = tree.body[0].body  # type: ignore[attr-defined]
    if isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
        body = body[1:]  # the docstring
    module = ast.Module(body=body, type_ignores=[])
    if unguard:
        module = ast.fix_missing_locations(_Unguard().visit(module))
    return ast.dump(module)


def test_the_copy_is_aiortc_s_transmit_but_for_the_guard() -> None:
    assert _body(sctp_transmit._transmit, unguard=True) == _body(RTCSctpTransport._transmit)


def _lean_association() -> Any:
    sctp = _association()
    install_path_mtu(sctp, ())
    assert install_lean_transmit(sctp) and install_lean_transmit(sctp)  # idempotent
    return sctp


def _marks(sctp: Any) -> RetransmitMarks:
    marks = getattr(sctp, sctp_transmit.MARKS)
    assert isinstance(marks, RetransmitMarks)
    return marks


def _data_tsns(sctp: Any) -> list[int]:
    return [c.tsn for p in sctp.transport.sent for c in parse_packet(p)[3]
            if isinstance(c, DataChunk)]


def _sack(cumulative_tsn: int, gaps: list[tuple[int, int]]) -> SackChunk:
    sack = SackChunk()
    sack.cumulative_tsn = cumulative_tsn
    sack.advertised_rwnd = 1 << 20
    sack.gaps = gaps
    return sack


async def test_a_gapped_sack_still_gets_its_struck_chunk_resent() -> None:
    sctp = _lean_association()
    await sctp._send(stream_id=1, pp_id=53, user_data=b"x" * 8000)  # 7 chunks
    await sctp._receive_sack_chunk(_sack(_data_tsns(sctp)[0], []))  # no gaps: no walk
    assert not _marks(sctp)
    sent = _data_tsns(sctp)
    assert len(sent) >= 6
    # the chunk after the cumulative TSN is missing while three later ones arrive,
    # each reported by its own SACK: the third report marks it
    for gap_end in (2, 3, 4):
        await sctp._receive_sack_chunk(_sack(sent[0], [(2, gap_end)]))
    assert _data_tsns(sctp)[len(sent):len(sent) + 1] == [sent[1]]  # re-sent, as aiortc would


async def test_the_timer_still_gets_every_chunk_in_flight_resent() -> None:
    sctp = _lean_association()
    sctp._cwnd = 10 ** 6
    await sctp._send(stream_id=1, pp_id=53, user_data=b"x" * 3000)
    first = _data_tsns(sctp)
    sctp._t3_expired()  # (the timer would call it; cwnd drops to one packet)
    sctp._cwnd = 10 ** 6
    await asyncio.sleep(0.05)
    assert sorted(_data_tsns(sctp)[len(first):]) == sorted(first)
    sctp._t3_cancel()


# --- gap blocks by what they change (`SentGaps`) ----------------------------------------


def test_the_sack_handler_is_aiortc_s_but_for_the_gap_walks() -> None:
    # aiortc's `if chunk.gaps:` block, its walks, becomes one call; the rest is its own
    ours = textwrap.dedent(inspect.getsource(sctp_sent_gaps._receive_sack_chunk))
    theirs = textwrap.dedent(inspect.getsource(RTCSctpTransport._receive_sack_chunk))
    call = "done_bytes, loss = self._sgraph_send_gaps.receive(chunk, done_bytes)"
    start = theirs.rindex("\n", 0, theirs.index("if chunk.gaps:")) + 1
    end = theirs.rindex("\n", 0, theirs.index("# adjust congestion window")) + 1
    theirs = theirs[:start] + f"    if chunk.gaps:\n        {call}\n\n" + theirs[end:]
    assert _text_body(ours) == _text_body(theirs)


def _text_body(source: str) -> str:
    """A function's body from its source, without its docstring."""
    body = ast.parse(source).body[0].body  # type: ignore[attr-defined]
    if isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
        body = body[1:]
    return ast.dump(ast.Module(body=body, type_ignores=[]))


class _Rename(ast.NodeTransformer):
    """aiortc's names in the walks read as ours: the association is `sctp`, the SACK
    `sack`, the modulus `TSN_MODULO`."""

    NAMES = {"self": "sctp", "chunk": "sack", "SCTP_TSN_MODULO": "TSN_MODULO"}

    def visit_Name(self, node: ast.Name) -> Any:
        return ast.Name(id=self.NAMES.get(node.id, node.id), ctx=node.ctx)


def test_aiortc_s_walks_are_copied_as_they_are() -> None:
    theirs = ast.parse(textwrap.dedent(inspect.getsource(RTCSctpTransport._receive_sack_chunk)))
    (gaps,) = [n for n in ast.walk(theirs)
               if isinstance(n, ast.If) and ast.unparse(n.test) == "chunk.gaps"]
    walks = [ast.dump(_Rename().visit(n)) for n in gaps.body]
    ours = ast.parse(textwrap.dedent(inspect.getsource(sctp_sent_gaps.SentGaps._aiortc_gaps)))
    body = [ast.dump(n) for n in ours.body[0].body]  # type: ignore[attr-defined]
    start = body.index(walks[0])
    assert body[start:start + len(walks)] == walks


class _Sender:
    """One sending association, plain aiortc or with the path-MTU adapter and the lean
    transmit (as `DataPipe` installs them), its TSNs set to start at `first_tsn`."""

    def __init__(self, lean: bool, first_tsn: int) -> None:
        self.sctp = _association()
        sctp = self.sctp
        sctp._local_tsn = first_tsn
        sctp._last_sacked_tsn = sctp._advanced_peer_ack_tsn = (first_tsn - 1) % 2**32
        if lean:
            install_path_mtu(sctp, ())
            assert install_lean_transmit(sctp)
        self.t3_restarts = 0
        restart = sctp._t3_restart

        def counted_restart() -> None:  # the earliest chunk's retransmission restarts T3
            self.t3_restarts += 1
            restart()

        sctp._t3_restart = counted_restart

    def state(self) -> tuple[Any, ...]:
        s = self.sctp
        return ([(c.tsn, c._acked, c._misses, c._retransmit, c._in_flight, c._abandoned,
                  c._sent_count) for c in s._sent_queue], self.t3_restarts,
                s._flight_size, s._cwnd, getattr(s, "_ssthresh", None), s._partial_bytes_acked,
                s._fast_recovery_exit, s._fast_recovery_transmit, s._last_sacked_tsn,
                len(s._outbound_queue), s._t3_handle is None, s.transport.sent)


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), loss=st.sampled_from([0.02, 0.1, 0.3]),
       first_tsn=st.sampled_from([1, 2**32 - 40]))
async def test_gap_blocks_do_what_aiortc_s_walks_do(seed: int, loss: float, first_tsn: int) -> None:
    # a receiver that loses some of what is sent, SACKs with its gap blocks after each
    # arrival, and now and then the retransmission timer or blocks out of order
    rng = random.Random(seed)
    plain, lean = _Sender(False, first_tsn), _Sender(True, first_tsn)
    arrived: set[int] = set()
    seen_packets = 0
    for step in range(60):
        roll = rng.random()
        if roll < 0.15:
            size = rng.randrange(1, 12_000)
            for sender in (plain, lean):
                await sender.sctp._send(stream_id=1, pp_id=53, user_data=b"x" * size)
        elif roll < 0.2:
            for sender in (plain, lean):
                sender.sctp._t3_expired()
            await asyncio.sleep(0)  # the timer's own _transmit, on both
        else:
            for data in plain.sctp.transport.sent[seen_packets:]:
                for c in parse_packet(data)[3]:
                    if isinstance(c, DataChunk) and rng.random() >= loss:
                        arrived.add((c.tsn - first_tsn) % 2**32)
            seen_packets = len(plain.sctp.transport.sent)
            cumulative = 0
            while cumulative in arrived:
                cumulative += 1
            gaps = [(a - cumulative + 1, b - cumulative + 1)
                    for a, b in blocks_of({o for o in arrived if o > cumulative})]
            if roll > 0.97 and len(gaps) > 1:
                gaps.reverse()  # aiortc's own receiver does this across 2**32
            for sender in (plain, lean):
                await sender.sctp._receive_sack_chunk(
                    _sack((first_tsn + cumulative - 1) % 2**32, gaps))
        assert lean.state() == plain.state(), f"step {step}"
    for sender in (plain, lean):
        sender.sctp._t3_cancel()


async def test_a_gapped_sack_that_strikes_nothing_leaves_the_walk_off() -> None:
    sctp = _lean_association()
    await sctp._send(stream_id=1, pp_id=53, user_data=b"x" * 8000)
    sent = _data_tsns(sctp)
    await sctp._receive_sack_chunk(_sack(sent[0], []))
    await sctp._receive_sack_chunk(_sack(sent[0], [(2, 2)]))  # one report: no strike yet
    assert not _marks(sctp)


# --- the walk over the span that may hold marked chunks (`RetransmitMarks`) -------------


class _Chunk:
    def __init__(self, tsn: int) -> None:
        self.tsn = tsn


def _queue(first_tsn: int, count: int) -> deque[Any]:
    return deque(_Chunk((first_tsn + i) % 2**32) for i in range(count))


def _walked(marks: RetransmitMarks, queue: deque[Any]) -> tuple[list[int], bool] | None:
    walk = marks.take(queue)
    return None if walk is None else ([c.tsn for c in walk.chunks], walk.from_front)


@pytest.mark.parametrize("front", [1_000, 2**32 - 3])
def test_a_strike_walks_its_chunk_alone(front: int) -> None:
    queue, marks = _queue(front, 2_000), RetransmitMarks()
    assert _walked(marks, queue) is None  # nothing marked: no walk
    marks.mark((front + 5) % 2**32, (front + 5) % 2**32)
    assert _walked(marks, queue) == ([(front + 5) % 2**32], False)
    assert _walked(marks, queue) is None  # taken: forgotten
    marks.mark(front, front)
    assert _walked(marks, queue) == ([front], True)  # the front: T3 restarts for it


def test_marks_widen_to_one_span_across_the_wrap() -> None:
    queue, marks = _queue(2**32 - 4, 10), RetransmitMarks()
    marks.mark(1, 1)
    marks.mark(2**32 - 2, 2**32 - 2)  # before the first mark, across 2**32
    marks.mark(0, 0)  # inside the span: no change
    assert _walked(marks, queue) == ([2**32 - 2, 2**32 - 1, 0, 1], False)


def test_a_span_is_clipped_to_the_queue() -> None:
    queue, marks = _queue(100, 10), RetransmitMarks()
    marks.mark(90, 95)  # acknowledged cumulatively since: gone from the queue
    assert _walked(marks, queue) == ([], True)
    marks.mark(95, 102)
    assert _walked(marks, queue) == ([100, 101, 102], True)
    marks.mark(105, 400)  # the timer marked chunks the queue no longer ends with
    assert _walked(marks, queue) == ([105, 106, 107, 108, 109], False)
    marks.mark_all(queue)
    assert _walked(marks, queue) == ([c.tsn for c in queue], True)
    marks.mark(100, 100)
    assert _walked(marks, deque()) is None


def test_a_queue_whose_tsns_are_not_consecutive_is_walked_whole() -> None:
    queue, marks = deque([_Chunk(5), _Chunk(7), _Chunk(8)]), RetransmitMarks()
    marks.mark(8, 8)
    assert _walked(marks, queue) == ([5, 7, 8], True)


async def test_the_walk_after_a_strike_leaves_the_rest_of_the_queue_alone(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # 2,000 chunks in flight behind a hole at the front: each third report of the hole
    # strikes it, and its walk is that one chunk, not the queue
    sctp = _lean_association()
    sctp._cwnd = sctp._ssthresh = 1 << 40
    await sctp._send(stream_id=1, pp_id=53, user_data=b"x" * (1_300 * 2_000))
    while sctp._outbound_queue:  # four packets a burst
        await sctp._transmit()
    sent = _data_tsns(sctp)
    assert len(sctp._sent_queue) == len(sent) >= 2_000
    walked: list[int] = []
    take = RetransmitMarks.take

    def counting_take(marks: RetransmitMarks, queue: deque[Any]) -> Any:
        walk = take(marks, queue)
        if walk is None:
            return None
        chunks = list(walk.chunks)
        walked.append(len(chunks))
        return walk._replace(chunks=chunks)

    monkeypatch.setattr(RetransmitMarks, "take", counting_take)
    for gap_end in range(2, 32):
        await sctp._receive_sack_chunk(_sack((sent[0] - 1) % 2**32, [(2, gap_end)]))
    assert walked == [1] * 10  # 30 reports, a strike in every third
    assert _data_tsns(sctp)[len(sent):] == [sent[0]] * 10  # re-sent each time, as aiortc


async def test_a_walk_the_window_cuts_short_marks_again_from_where_it_stopped() -> None:
    sctp = _lean_association()
    sctp._cwnd = 10 ** 6
    await sctp._send(stream_id=1, pp_id=53, user_data=b"x" * 12_000)
    first = _data_tsns(sctp)
    sctp._t3_expired()  # marks all; the window drops to one packet
    await asyncio.sleep(0)  # its own _transmit: one chunk re-sent, the walk stops
    again = _data_tsns(sctp)[len(first):]
    assert len(again) == 1 and again[0] == first[0]
    walk = _marks(sctp).take(sctp._sent_queue)
    assert walk is not None and [c.tsn for c in walk.chunks] == first[1:]
    sctp._t3_cancel()
