"""`GapRuns` (transfer_core.webrtc.sctp_gaps) against the plain reading of its job: the
gap blocks of a set of TSNs held beyond a cumulative TSN, in serial order."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from transfer_core.webrtc.sctp_gaps import TSN_MODULO, GapRuns, IndexRuns, tsns_of


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
@given(
    offsets=st.sets(st.integers(2, 300), max_size=120),
    seed=st.integers(0, 2**32 - 1),
    cumulative=st.sampled_from([0, 1000, 2**31, TSN_MODULO - 150, TSN_MODULO - 1]),
)
def test_runs_are_the_blocks_of_what_was_added_in_any_order(
    offsets: set[int], seed: int, cumulative: int
) -> None:
    order = sorted(offsets)
    random.Random(seed).shuffle(order)
    runs = GapRuns()
    for i, offset in enumerate(order):
        runs.add((cumulative + offset) % TSN_MODULO, cumulative)
        expected = blocks_of(set(order[: i + 1]))
        assert runs.blocks(cumulative) == expected
        assert len(runs) == len(expected)
    assert GapRuns.of([(cumulative + o) % TSN_MODULO for o in offsets], cumulative).blocks(
        cumulative) == blocks_of(offsets)


def test_a_run_across_the_wrap_is_one_block() -> None:
    cumulative = TSN_MODULO - 5
    runs = GapRuns()
    for tsn in (TSN_MODULO - 2, TSN_MODULO - 1, 0, 1, 4):
        runs.add(tsn, cumulative)
    assert runs.blocks(cumulative) == [(3, 6), (9, 9)]


def test_take_front_takes_only_the_run_that_starts_there() -> None:
    runs = GapRuns()
    for tsn in (12, 13, 20):
        runs.add(tsn, 10)
    assert runs.take_front(11) is None
    assert runs.take_front(12) == (12, 13)
    assert runs.blocks(13) == [(7, 7)] and bool(runs)
    assert runs.take_front(20) == (20, 20)
    assert not runs and runs.blocks(20) == []


def test_a_retransmission_that_fills_a_hole_joins_two_runs() -> None:
    runs = GapRuns()
    for tsn in (5, 6, 8, 9, 12):
        runs.add(tsn, 3)
    runs.add(7, 3)
    assert runs.blocks(3) == [(2, 6), (9, 9)]
    runs.add(11, 3)  # joins the newest run from below
    assert runs.blocks(3) == [(2, 6), (8, 9)]
    runs.add(10, 3)
    assert runs.blocks(3) == [(2, 9)]


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
