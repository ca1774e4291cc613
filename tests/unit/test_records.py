"""Every way a record can be wrong is detected, each with its own error."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from transfer_core.errors import (
    ForeignRecordError,
    MalformedRecordError,
    MisplacedRecordError,
    RecordSizeError,
    TamperedRecordError,
    WrongKeyError,
)
from transfer_core.protocol.layout import MAX_RECORD_SIZE, MIN_RECORD_SIZE, ChunkLayout
from transfer_core.protocol.manifest import Manifest, open_manifest, seal_manifest
from transfer_core.protocol.record import (
    FLAG_LAST,
    HEADER,
    RecordCipher,
    RecordHeader,
    SealedRecord,
)

KEY = bytes(range(32))
OTHER_KEY = bytes(range(1, 33))
TID = b"T" * 16
# three records: 16336 + 16336 + 7328
LAYOUT = ChunkLayout(size=40_000, record_size=MIN_RECORD_SIZE)


def chunk(i: int) -> bytes:
    return bytes([i + 1]) * LAYOUT.length(i)


@pytest.fixture
def cipher():
    return RecordCipher(KEY, TID, LAYOUT)


@pytest.fixture
def records(cipher):
    return [cipher.seal(i, chunk(i)) for i in range(LAYOUT.count)]


def test_round_trip(cipher, records):
    assert LAYOUT.count == 3
    for i, record in enumerate(records):
        assert cipher.open(record) == (i, chunk(i))
        assert cipher.open(record, expected_index=i) == (i, chunk(i))
    assert len(records[0]) == LAYOUT.record_size
    assert RecordHeader.parse(records[2]).is_last and not RecordHeader.parse(records[1]).is_last


def test_header_round_trips_through_bytes():
    header = RecordHeader(TID, 7, 9, 123, FLAG_LAST)
    assert RecordHeader.parse(bytes(header) + b"\0" * 16) == header
    assert len(bytes(header)) == 32


def test_sealing_is_deterministic(cipher):
    assert cipher.seal(1, chunk(1)) == cipher.seal(1, chunk(1))


@pytest.mark.parametrize("index, length", [(0, 10), (1, LAYOUT.length(2)), (3, LAYOUT.length(2)),
                                           (-1, LAYOUT.length(0)), (2, LAYOUT.length(0))])
def test_sealing_refuses_a_chunk_of_the_wrong_size_or_place(cipher, index, length):
    with pytest.raises(ValueError, match="must exist"):
        cipher.seal(index, b"x" * length)


@given(st.data())
def test_any_flipped_bit_is_detected(data):
    cipher = RecordCipher(KEY, TID, LAYOUT)
    index = data.draw(st.integers(0, LAYOUT.count - 1))
    record = bytearray(cipher.seal(index, chunk(index)))
    pos = data.draw(st.integers(0, len(record) - 1))
    bit = data.draw(st.integers(0, 7))
    record[pos] ^= 1 << bit
    with pytest.raises((TamperedRecordError, MalformedRecordError, ForeignRecordError)) as info:
        cipher.open(bytes(record))
    if 4 <= pos < 20:
        assert info.type is ForeignRecordError  # the transfer id is what changed
    elif pos >= 32:
        assert info.type is TamperedRecordError


def test_record_from_another_transfer(records):
    other = RecordCipher(KEY, b"U" * 16, LAYOUT)
    with pytest.raises(ForeignRecordError):
        other.open(records[0])


def test_record_moved_to_another_index(cipher, records):
    with pytest.raises(MisplacedRecordError):
        cipher.open(records[0], expected_index=1)


def test_header_index_rewritten_is_tampering(cipher, records):
    forged = bytearray(records[0])
    HEADER.pack_into(forged, 0, 1, 0, 0, TID, 1, LAYOUT.count, LAYOUT.length(1))
    with pytest.raises(TamperedRecordError):
        cipher.open(bytes(forged), expected_index=1)


def test_truncated_record(cipher, records):
    with pytest.raises(TamperedRecordError):
        cipher.open(records[1][:-1])
    with pytest.raises(MalformedRecordError):
        cipher.open(records[1][:40])


def test_last_flag_moved(cipher, records):
    forged = bytearray(records[0])
    forged[1] |= FLAG_LAST
    with pytest.raises(TamperedRecordError):
        cipher.open(bytes(forged))


def test_wrong_key_data_record_is_tampered(records):
    with pytest.raises(TamperedRecordError):
        RecordCipher(OTHER_KEY, TID, LAYOUT).open(records[0])


@pytest.mark.parametrize("field", ["version", "reserved", "flags"])
def test_malformed_header(records, cipher, field):
    forged = bytearray(records[0])
    if field == "version":
        forged[0] = 2
    elif field == "reserved":
        forged[2] = 1
    else:
        forged[1] = 0x80
    with pytest.raises(MalformedRecordError):
        cipher.open(bytes(forged))


def manifest() -> Manifest:
    return Manifest("a.bin", 40_000, "application/octet-stream", MIN_RECORD_SIZE, "0" * 64,
                    "2026-01-01T00:00:00Z")


def test_manifest_wrong_key_vs_tampered():
    record = seal_manifest(KEY, TID, manifest())
    got, cipher = open_manifest(KEY, record)
    assert got == manifest() and cipher.transfer_id == TID
    with pytest.raises(WrongKeyError):
        open_manifest(OTHER_KEY, record)
    flipped = bytearray(record)
    flipped[-1] ^= 1
    with pytest.raises(TamperedRecordError):
        open_manifest(KEY, bytes(flipped))


def test_manifest_is_not_a_data_record(cipher):
    record = seal_manifest(KEY, TID, manifest())
    with pytest.raises(MalformedRecordError):
        cipher.open(record)
    with pytest.raises(MalformedRecordError):
        open_manifest(KEY, cipher.seal(0, chunk(0)))


@pytest.mark.parametrize("size", [MIN_RECORD_SIZE - 1, MAX_RECORD_SIZE + 1, 0])
def test_record_size_bounds(size):
    with pytest.raises(RecordSizeError):
        ChunkLayout(10, size)


def test_largest_record_size_fits_its_bound():
    layout = ChunkLayout(10**6, MAX_RECORD_SIZE)
    cipher = RecordCipher(KEY, TID, layout)
    assert len(cipher.seal(0, b"x" * layout.length(0))) == MAX_RECORD_SIZE


def test_sealed_pieces_are_the_record(cipher, records):
    for index in range(LAYOUT.count):  # full records (the short path) and the last
        sealed = cipher.sealed(index, chunk(index))
        assert isinstance(sealed, SealedRecord)
        assert len(sealed.header) == HEADER.size
        assert bytes(sealed) == records[index] and len(sealed) == len(records[index])


@given(st.integers(-100, 16_500), st.integers(-100, 16_500))
def test_any_span_of_a_sealed_record_is_that_span_of_its_bytes(start: int, stop: int) -> None:
    sealed = RecordCipher(KEY, TID, LAYOUT).sealed(0, chunk(0))
    whole = bytes(sealed)
    span = sealed[start:stop]
    assert type(span) is bytes and span == whole[start:stop]
    assert sealed[:] == whole and sealed[HEADER.size:] == whole[HEADER.size:]


def test_a_sealed_record_is_read_in_contiguous_spans(cipher) -> None:
    with pytest.raises(ValueError, match="contiguous"):
        cipher.sealed(0, chunk(0))[::2]
