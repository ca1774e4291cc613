"""Source → records → partial file → final file, with every way that can go wrong."""

import os
import tracemalloc
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from transfer_core.errors import (
    DestinationExistsError,
    DuplicateRecordError,
    HashMismatchError,
    SourceChangedError,
    TamperedRecordError,
    TruncatedTransferError,
    WrongKeyError,
)
from transfer_core.protocol.keys import derive_keys
from transfer_core.protocol.layout import DEFAULT_RECORD_SIZE, OVERHEAD
from transfer_core.protocol.progress import ProgressRecord, Via
from transfer_core.protocol.secret import TransferSecret
from transfer_core.sink import PartialFile, safe_file_name, work_dir_for
from transfer_core.source import FileSource

KEYS = derive_keys(TransferSecret(bytes(range(32))))
C = DEFAULT_RECORD_SIZE - OVERHEAD


def send_all(tmp: Path, data: bytes, record_size: int = DEFAULT_RECORD_SIZE) -> Path:
    src_path = tmp / "source.bin"
    src_path.write_bytes(data)
    out = tmp / "out"
    out.mkdir(exist_ok=True)
    with FileSource.create(src_path, KEYS.file_key, record_size) as source:
        sink = PartialFile.open(work_dir_for(out, KEYS.room_id), KEYS.file_key,
                                source.manifest_record)
        for _, record in source.records(range(source.layout.count)):
            sink.accept(record, Via.P2P)
        return sink.finalize(out)


@pytest.mark.parametrize("size", [0, 1, C - 1, C, C + 1, 2 * C, 3 * C + 1])
def test_round_trip_edge_sizes(tmp_path, size):
    data = os.urandom(size)
    assert send_all(tmp_path, data).read_bytes() == data


@settings(max_examples=25, suppress_health_check=[HealthCheck.function_scoped_fixture],
          deadline=None)
@given(size=st.integers(0, 5 * C), record_kib=st.sampled_from([16, 64, 256]))
def test_round_trip_any_size(tmp_path_factory, size, record_kib):
    tmp = tmp_path_factory.mktemp("rt")
    data = os.urandom(size)
    assert send_all(tmp, data, record_kib * 1024).read_bytes() == data


@pytest.fixture
def transfer(tmp_path):
    data = os.urandom(5 * C + 100)
    path = tmp_path / "photo.jpg"
    path.write_bytes(data)
    source = FileSource.create(path, KEYS.file_key)
    out = tmp_path / "out"
    out.mkdir()
    sink = PartialFile.open(work_dir_for(out, KEYS.room_id), KEYS.file_key, source.manifest_record)
    yield data, source, sink, out
    source.close()
    sink.close()


def test_manifest_describes_the_file(transfer):
    data, source, _, _ = transfer
    assert source.manifest.name == "photo.jpg"
    assert source.manifest.media_type == "image/jpeg"
    assert source.manifest.size == len(data)
    assert source.manifest.chunk_count == 6


def test_duplicate_is_reported_and_not_rewritten(transfer):
    _, source, sink, _ = transfer
    sink.accept(source.record(0), Via.P2P)
    with pytest.raises(DuplicateRecordError):
        sink.accept(source.record(0), Via.S3)
    assert sink.duplicates == 1
    assert sink.progress.counts() == {"p2p": 1, "s3": 0}


def test_truncated_transfer_is_not_finished(transfer):
    _, source, sink, out = transfer
    for index in range(source.layout.count - 1):  # everything but the last record
        sink.accept(source.record(index), Via.P2P)
    with pytest.raises(TruncatedTransferError):
        sink.finalize(out)
    assert not (out / "photo.jpg").exists()


def test_tampered_record_writes_nothing(transfer):
    _, source, sink, _ = transfer
    record = bytearray(source.record(2))
    record[100] ^= 0xFF
    with pytest.raises(TamperedRecordError):
        sink.accept(bytes(record), Via.P2P)
    assert not sink.progress.holds(2)
    sink.save()
    data = (sink.work_dir / "data").read_bytes()
    assert data[2 * C : 3 * C] == bytes(C)  # the region is still a hole


def test_wrong_key_is_refused_before_anything_is_written(tmp_path, transfer):
    _, source, _, _ = transfer
    other = derive_keys(TransferSecret(bytes(32)))
    with pytest.raises(WrongKeyError):
        PartialFile.open(tmp_path / "w", other.file_key, source.manifest_record)
    assert not (tmp_path / "w" / "data").exists()


def test_restarted_receiver_resumes_from_its_partial_file(transfer):
    data, source, sink, out = transfer
    for index in (0, 1, 3):
        sink.accept(source.record(index), Via.P2P)
    sink.close()  # the receiver stops
    again = PartialFile.resume(sink.work_dir, KEYS.file_key)
    assert again is not None
    assert again.missing().ranges() == [(2, 3), (4, 6)]
    for index in again.missing():
        again.accept(source.record(index), Via.S3)
    final = again.finalize(out)
    assert final.read_bytes() == data
    assert not again.work_dir.exists()


def test_progress_is_never_ahead_of_the_data(transfer):
    _, source, sink, _ = transfer
    sink.accept(source.record(0), Via.P2P)
    saved = ProgressRecord.load(sink.work_dir / "progress.json")
    # whatever the saved record claims is on disk and verifies
    with open(sink.work_dir / "data", "rb") as fh:
        for index in saved.held:
            fh.seek(index * C)
            assert fh.read(C) == source._cipher.open(source.record(index))[1]


def test_new_transfer_of_same_bytes_keeps_progress(tmp_path, transfer):
    data, source, sink, out = transfer
    sink.accept(source.record(0), Via.P2P)
    sink.close()
    restarted = FileSource.create(source.path, KEYS.file_key)  # new transfer id
    assert restarted.transfer_id != source.transfer_id
    again = PartialFile.open(sink.work_dir, KEYS.file_key, restarted.manifest_record)
    assert again.progress.holds(0)
    for index in again.missing():
        again.accept(restarted.record(index), Via.P2P)
    assert again.finalize(out).read_bytes() == data
    restarted.close()


def test_refuses_to_overwrite_without_force(transfer):
    data, source, sink, out = transfer
    (out / "photo.jpg").write_bytes(b"precious")
    for index in range(source.layout.count):
        sink.accept(source.record(index), Via.P2P)
    with pytest.raises(DestinationExistsError):
        sink.finalize(out)
    assert (out / "photo.jpg").read_bytes() == b"precious"
    assert sink.finalize(out, force=True).read_bytes() == data


def test_hash_mismatch_keeps_the_partial_file(transfer):
    _, source, sink, out = transfer
    for index in range(source.layout.count):
        sink.accept(source.record(index), Via.P2P)
    sink.save()
    with open(sink.work_dir / "data", "r+b") as fh:  # corrupt the disk behind our back
        fh.write(b"X")
    with pytest.raises(HashMismatchError):
        sink.finalize(out)
    assert not (out / "photo.jpg").exists()


def test_source_changed_during_transfer_stops_sealing(transfer):
    _, source, _, _ = transfer
    source.record(0)
    with open(source.path, "ab") as fh:
        fh.write(b"more")
    with pytest.raises(SourceChangedError):
        source.record(1)


def test_resume_of_sender_needs_the_same_bytes(tmp_path, transfer):
    _, source, _, _ = transfer
    again = FileSource.resume(source.path, KEYS.file_key, source.manifest_record)
    assert again.transfer_id == source.transfer_id
    assert again.record(3) == source.record(3)
    again.close()
    source.path.write_bytes(b"different")
    with pytest.raises(SourceChangedError):
        FileSource.resume(source.path, KEYS.file_key, source.manifest_record)


@pytest.mark.parametrize(
    ("name", "safe"),
    [("a.txt", "a.txt"), ("../../etc/passwd", "passwd"), ("..", "received-file"),
     ("C:\\x\\evil.exe", "evil.exe"), ("bad\x00\nname", "badname"), ("", "received-file")],
)
def test_file_names_are_sanitised(name, safe):
    assert safe_file_name(name) == safe


def test_memory_stays_flat_in_file_size(tmp_path):
    """Peak Python allocations while moving 24 MiB stay far below the file size."""
    path = tmp_path / "big.bin"
    with open(path, "wb") as fh:
        for _ in range(24):
            fh.write(os.urandom(1 << 20))
    out = tmp_path / "out"
    out.mkdir()
    tracemalloc.start()
    with FileSource.create(path, KEYS.file_key) as source:
        sink = PartialFile.open(work_dir_for(out, KEYS.room_id), KEYS.file_key,
                                source.manifest_record)
        for _, record in source.records(range(source.layout.count)):
            sink.accept(record, Via.P2P)
        final = sink.finalize(out)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert final.stat().st_size == 24 << 20
    assert peak < 4 << 20, f"peak {peak} bytes"


def test_only_saved_chunks_are_durable(transfer, monkeypatch):
    """What a receiver acknowledges must survive a crash: unsaved chunks are not durable."""
    monkeypatch.setattr("transfer_core.sink.PERSIST_EVERY_SECONDS", 3600)
    monkeypatch.setattr("transfer_core.sink.CHECKPOINT_EVERY_SECONDS", 3600)
    _, source, sink, _ = transfer
    sink.accept(source.record(0), Via.P2P)
    sink.accept(source.record(1), Via.P2P)
    assert sink.progress.holds(1)
    assert sink.durable.ranges() == []
    sink.save()
    assert sink.durable.ranges() == [(0, 2)]
    assert ProgressRecord.load(sink.work_dir / "progress.json").held == sink.durable


def test_a_checkpoint_every_few_records_is_what_a_restart_holds(transfer, monkeypatch):
    """A killed receiver keeps every checkpointed chunk (written, its progress recorded)."""
    CHECKPOINT_EVERY_RECORDS = 3
    monkeypatch.setattr("transfer_core.sink.CHECKPOINT_EVERY_RECORDS", 3)
    monkeypatch.setattr("transfer_core.sink.PERSIST_EVERY_SECONDS", 3600)
    monkeypatch.setattr("transfer_core.sink.CHECKPOINT_EVERY_SECONDS", 3600)
    _, source, sink, _ = transfer
    for index in range(CHECKPOINT_EVERY_RECORDS + 1):
        sink.accept(source.record(index), Via.P2P)
    assert sink.durable.ranges() == [(0, CHECKPOINT_EVERY_RECORDS)]
    # the process dies here (no close, no fsync); a new one reads what is on disk
    held = ProgressRecord.load(sink.work_dir / "progress.json").held
    assert held.ranges() == [(0, CHECKPOINT_EVERY_RECORDS)]
