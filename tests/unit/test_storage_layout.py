"""Object keys and the part plan of stored transfers (docs/protocol.md §10)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from transfer_core.protocol.layout import ChunkLayout
from transfer_core.storage import (
    MAX_PARTS,
    MIN_PART_BYTES,
    PartPlan,
    manifest_key,
    records_key,
    split_records_key,
)

ROOM = "0123456789abcdef0123456789abcdef"


def test_keys_derive_from_the_room_id_only():
    assert manifest_key(ROOM) == f"transfers/{ROOM}/manifest"
    assert records_key(ROOM, 42) == f"transfers/{ROOM}/records/0000000042"
    assert split_records_key(ROOM, records_key(ROOM, 42)) == 42
    assert split_records_key(ROOM, manifest_key(ROOM)) is None
    assert split_records_key("f" * 32, records_key(ROOM, 42)) is None


@pytest.mark.parametrize(
    "tail",
    ["12", "000000000a", "00000000012", "000000001²", "٠٠٠٠٠٠٠٠١٢", "0000000012\n", "+000000012",
     "0000000012/x", ""],
)
def test_a_foreign_object_is_not_a_records_object(tail):
    """protocol.md §10: only records/<10 ASCII digits> is read; anything else is ignored."""
    assert split_records_key(ROOM, f"transfers/{ROOM}/records/{tail}") is None
    with pytest.raises(ValueError):
        manifest_key("../etc")


def plan_for(size: int, record_size: int, first: int = 0) -> PartPlan:
    layout = ChunkLayout(size, record_size)
    return PartPlan(record_size, layout.record_length(layout.count - 1), layout.count, first)


@given(
    size=st.integers(0, 2**40),
    record_kib=st.sampled_from([16, 64, 256]),
    first_frac=st.floats(0, 1),
)
def test_parts_hold_whole_records_within_s3_limits(size, record_kib, first_frac):
    layout = ChunkLayout(size, record_kib * 1024)
    first = min(layout.count - 1, int(first_frac * layout.count))
    plan = plan_for(size, layout.record_size, first)
    assert 1 <= plan.parts <= MAX_PARTS
    assert plan.object_bytes == layout.sealed_size - layout.record_offset(first)
    if plan.multipart:
        assert plan.records_per_part * layout.record_size >= MIN_PART_BYTES
    covered = [plan.part_records(p) for p in (1, plan.parts)]
    assert covered[0].start == first and covered[-1].stop == layout.count


def test_a_small_object_is_one_put_and_a_large_one_is_8_mib_parts():
    assert plan_for(1_000_000, 65536).parts == 1
    plan = plan_for(256 << 20, 65536)
    assert plan.multipart and plan.records_per_part * 65536 == 8 << 20
    assert plan.record_offset(10) == 10 * 65536
