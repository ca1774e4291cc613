"""`IndexRuns` (transfer_core.webrtc.sctp_gaps) against the plain reading of its job: the
runs of a set of integers, whatever was added, taken out or shifted (the receiver's
runs across TSN 2**32: tests/unit/test_sctp_receive.py)."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from transfer_core.webrtc.sctp_gaps import TSN_MODULO, IndexRuns, tsns_of


def blocks_of(offsets: set[int]) -> list[tuple[int, int]]:
    """Gap blocks read straight off the sorted offsets."""
    blocks: list[list[int]] = []
    for offset in sorted(offsets):
        if blocks and blocks[-1][1] == offset - 1:
            blocks[-1][1] = offset
        else:
            blocks.append([offset, offset])
    return [(a, b) for a, b in blocks]


@settings(max_examples=300, deadline=None)
@given(positions=st.sets(st.integers(0, 300), max_size=120), seed=st.integers(0, 2**32 - 1))
def test_runs_are_the_blocks_of_what_was_added_in_any_order(
    positions: set[int], seed: int
) -> None:
    order = sorted(positions)
    random.Random(seed).shuffle(order)
    runs = IndexRuns()
    for i, position in enumerate(order):
        runs.add(position, position)
        assert runs.spans() == blocks_of(set(order[: i + 1]))
    assert IndexRuns.of(sorted(positions)).spans() == blocks_of(positions)


def test_a_retransmission_that_fills_a_hole_joins_two_runs() -> None:
    runs = IndexRuns.of([2, 3, 5, 6, 9])
    runs.add(4, 4)
    assert runs.spans() == [(2, 6), (9, 9)]
    runs.add(8, 8)  # joins the newest run from below
    assert runs.spans() == [(2, 6), (8, 9)]
    runs.add(7, 7)
    assert runs.spans() == [(2, 9)] and runs.first() == (2, 9)


@pytest.mark.parametrize(("first", "last", "expected"), [
    (5, 9, [range(5, 10)]),
    (TSN_MODULO - 2, 1, [range(TSN_MODULO - 2, TSN_MODULO), range(0, 2)]),
])
def test_tsns_of_a_run(first: int, last: int, expected: list[range]) -> None:
    assert tsns_of(first, last) == expected


@settings(max_examples=300, deadline=None)
@given(ops=st.lists(st.tuples(st.sampled_from(["add", "discard", "shift", "missing"]),
                              st.integers(0, 60), st.integers(0, 8)), max_size=40))
def test_index_runs_are_the_set_they_stand_for(ops: list[tuple[str, int, int]]) -> None:
    runs, model = IndexRuns(), set()
    for op, at, width in ops:
        if op == "add":
            runs.add(at, at + width)
            model |= set(range(at, at + width + 1))
        elif op == "discard":
            runs.discard(at)
            model.discard(at)
        elif op == "shift":
            runs.shift(width)
            model = {i - width for i in model if i >= width}
        else:
            parts = runs.missing(at, at + width)
            assert [i for a, b in parts for i in range(a, b + 1)] == [
                i for i in range(at, at + width + 1) if i not in model]
        assert runs.spans() == blocks_of(model)
        assert bool(runs) == bool(model)
    assert IndexRuns.of(sorted(model)).spans() == blocks_of(model)
