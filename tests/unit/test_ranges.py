import pytest
from hypothesis import given
from hypothesis import strategies as st

from transfer_core.protocol.ranges import RangeEncodingError, RangeSet

universe_and_indices = st.integers(0, 3000).flatmap(
    lambda n: st.tuples(st.just(n), st.lists(st.integers(0, max(n - 1, 0)), max_size=400))
)


@given(universe_and_indices)
def test_behaves_like_a_set_and_round_trips(case):
    universe, indices = case
    indices = [i for i in indices if i < universe]
    ranges = RangeSet(universe)
    for i in indices:
        ranges.add(i)
    assert set(ranges) == set(indices)
    assert len(ranges) == len(set(indices))
    assert all(i in ranges for i in indices)
    assert set(ranges.complement()) == set(range(universe)) - set(indices)
    decoded = RangeSet.decode(ranges.encode())
    assert decoded == ranges
    assert ranges.complete == (len(set(indices)) == universe)


@given(st.lists(st.tuples(st.integers(0, 500), st.integers(0, 500)), max_size=30))
def test_add_range_merges(pairs):
    ranges = RangeSet(1000)
    expected: set[int] = set()
    for a, b in pairs:
        lo, hi = min(a, b), max(a, b)
        ranges.add_range(lo, hi)
        expected |= set(range(lo, hi))
    assert set(ranges) == expected
    starts_ends = ranges.ranges()
    assert all(e1 < s2 for (_, e1), (s2, _) in zip(starts_ends, starts_ends[1:], strict=False))


def test_a_contiguous_prefix_is_tiny():
    ranges = RangeSet(1_000_000, [(0, 654_321)])
    assert len(ranges.encode()) <= 10


def test_worst_case_million_chunks_fits_one_message():
    ranges = RangeSet(1_000_000)
    for i in range(0, 1_000_000, 2):
        ranges.add(i)
    encoded = ranges.encode()
    assert len(encoded) <= 125_004
    assert len(encoded) < 256 * 1024
    assert RangeSet.decode(encoded) == ranges


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\x09\x05",
        b"\x01\x0a\x01\x00\x00",  # empty range
        b"\x01\x0a\x01\x05\x09",  # leaves the universe
        b"\x01\x0a\x02\x00\x02\x00\x02",  # touching ranges
        b"\x02\x0a\xff",  # bitmap too short
        b"\x02\x04\xff",  # bits past the universe
        b"\x01\x0a\x00\x00",  # trailing bytes
        b"\x01\xff",  # truncated varint
    ],
)
def test_bad_encodings_are_refused(data):
    with pytest.raises(RangeEncodingError):
        RangeSet.decode(data)
