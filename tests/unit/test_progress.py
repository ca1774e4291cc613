"""The receiver's progress.json (protocol.md §6): canonical bytes, and what a reader refuses."""

import json

import pytest

from transfer_core.errors import ProgressError
from transfer_core.protocol.progress import ProgressRecord, Via
from transfer_core.protocol.vectors import compute

TID = bytes(range(0xA0, 0xB0))


def sample() -> ProgressRecord:
    record = ProgressRecord(TID, 10)
    for i in range(5):
        record.mark(i, Via.P2P)
    record.mark(7, Via.S3)
    return record


def test_round_trip_and_canonical_bytes():
    data = sample().to_json()
    assert b" " not in data and list(json.loads(data)) == sorted(json.loads(data))
    back = ProgressRecord.from_json(data)
    assert back.transfer_id == TID and back.count == 10
    assert back.held.ranges() == [(0, 5), (7, 8)] and back.counts() == {"p2p": 5, "s3": 1}


def test_the_vector_is_read_back():
    vector = compute()["progress"]
    back = ProgressRecord.from_json(vector["json"].encode())
    assert back.missing().ranges() == [tuple(r) for r in vector["missing"]]


def changed(**fields) -> bytes:
    doc = json.loads(sample().to_json())
    doc.update(fields)
    return json.dumps(doc).encode()


@pytest.mark.parametrize(
    "data",
    [
        b"not json",
        changed(v=2),
        changed(transfer_id="a0a1"),
        changed(transfer_id="zz" * 16),
        changed(via={"tcp": "AQoA"}),
        changed(via={"p2p": "AQoA!"}),  # not base64
        changed(via={"p2p": "AQUA"}),  # universe 5, count 10
        changed(count="many"),
    ],
)
def test_a_reader_refuses_what_the_spec_does_not_allow(data):
    with pytest.raises(ProgressError):
        ProgressRecord.from_json(data)
