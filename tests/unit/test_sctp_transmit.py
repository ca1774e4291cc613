"""The guarded `_transmit` (`transfer_core.webrtc.sctp_transmit`): aiortc's own but for
the guard on its retransmission walk, installed per association; chunks marked by a
SACK's gap reports or by the retransmission timer are still re-sent. The lossy
integration tests (tests/integration/test_sctp_ack.py, test_sctp_pmtu.py) drop,
duplicate and reorder real peers' packets with it installed."""

from __future__ import annotations

import ast
import asyncio
import inspect
import textwrap
from typing import Any

import aiortc.rtcsctptransport as sctp_module
from aiortc.rtcsctptransport import DataChunk, RTCSctpTransport, SackChunk, parse_packet

from tests.unit.pins import assert_unchanged
from tests.unit.test_sctp_pmtu import _association
from transfer_core.webrtc import sctp_transmit
from transfer_core.webrtc.sctp_pmtu import install_path_mtu
from transfer_core.webrtc.sctp_transmit import install_lean_transmit

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
    """Our copy, read back without its guard: the guarded block inline, the guard's
    own assignments gone."""

    def visit_If(self, node: ast.If) -> Any:
        self.generic_visit(node)
        if ast.unparse(node.test) == "self._sgraph_send_retransmit_marked":
            return node.body  # its first line, the guard's reset, is gone already
        return node

    def visit_Try(self, node: ast.Try) -> Any:
        self.generic_visit(node)
        handler = node.handlers[0] if len(node.handlers) == 1 else None
        if handler is not None and [type(n) for n in handler.body] == [ast.Raise]:
            return node.body  # the guard's handler, its assignment gone already
        return node

    def visit_Assign(self, node: ast.Assign) -> Any:
        if ast.unparse(node.targets[0]) == "self._sgraph_send_retransmit_marked":
            return None
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
    assert not getattr(sctp, sctp_transmit._MARKED)
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
