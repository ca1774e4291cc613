"""The receiver's progress written in a worker thread (#13): the loop never waits on an
fsync, and progress.json never claims more than the write behind it allows."""

import asyncio
import os
import threading

import pytest

from tests.unit.test_file_transfer import KEYS, C
from transfer_core import sink as sink_module
from transfer_core.protocol.progress import ProgressRecord, Via
from transfer_core.sink import PartialFile, work_dir_for
from transfer_core.source import FileSource

WAIT = 30.0  # generous: the machine is shared; a hang fails the test instead of stalling it


@pytest.fixture
def background(tmp_path, monkeypatch):
    """A source and a partial file that writes progress in the background, saving
    every 2 records and checkpointing after every record (no timed saves)."""
    monkeypatch.setattr(sink_module, "PERSIST_EVERY_RECORDS", 2)
    monkeypatch.setattr(sink_module, "PERSIST_EVERY_SECONDS", 3600)
    monkeypatch.setattr(sink_module, "CHECKPOINT_EVERY_RECORDS", 1)
    monkeypatch.setattr(sink_module, "CHECKPOINT_EVERY_SECONDS", 3600)
    path = tmp_path / "photo.jpg"
    path.write_bytes(os.urandom(6 * C))
    source = FileSource.create(path, KEYS.file_key)
    partial = PartialFile.open(work_dir_for(tmp_path / "out", KEYS.room_id), KEYS.file_key,
                               source.manifest_record, background=True)
    yield source, partial
    source.close()
    partial.close()


class SlowFsync:
    """Fault injection: a disk whose fsync of the data file takes as long as the test
    wants (a slow fsync cannot be provoked on demand otherwise). It waits for
    `release`, and notes which chunks progress.json claimed as it began."""

    def __init__(self, partial: PartialFile) -> None:
        self.data = os.stat(partial.work_dir / "data").st_ino
        self.progress = partial.work_dir / "progress.json"
        self.entered = threading.Event()
        self.release = threading.Event()
        self.done = threading.Event()
        self.claimed_at_start: list[tuple[int, int]] | None = None
        self._fsync = os.fsync

    def __call__(self, fd: int) -> None:
        if os.fstat(fd).st_ino == self.data and not self.entered.is_set():
            self.claimed_at_start = ProgressRecord.load(self.progress).held.ranges()
            self.entered.set()
            assert self.release.wait(WAIT), "the test never released the fsync"
        self._fsync(fd)
        self.done.set()


def claimed(partial: PartialFile) -> list[tuple[int, int]]:
    return ProgressRecord.load(partial.work_dir / "progress.json").held.ranges()


async def test_no_progress_write_claims_a_chunk_its_fsync_did_not_cover(background, monkeypatch):
    source, partial = background
    written: list[list[tuple[int, int]]] = []
    save = ProgressRecord.save

    def spy(record: ProgressRecord, path):  # records each write's claim, then writes it
        written.append(record.held.ranges())
        save(record, path)

    monkeypatch.setattr(ProgressRecord, "save", spy)
    partial.accept(source.record(0), Via.P2P)  # a checkpoint
    await partial.settle()
    assert claimed(partial) == [(0, 1)] and partial.durable.ranges() == [(0, 1)]

    slow = SlowFsync(partial)
    monkeypatch.setattr(os, "fsync", slow)
    written.clear()
    partial.accept(source.record(1), Via.P2P)  # the second record: a save, fsync first
    assert await asyncio.to_thread(slow.entered.wait, WAIT)
    # the loop goes on while the fsync runs: records accepted, their checkpoints queued
    partial.accept(source.record(2), Via.P2P)
    partial.accept(source.record(3), Via.P2P)
    assert not slow.done.is_set()
    assert partial.unchecked  # not yet acknowledgeable
    assert claimed(partial) == [(0, 1)] == partial.durable.ranges()
    assert written == []  # nothing written during the fsync
    assert slow.claimed_at_start == [(0, 1)]

    slow.release.set()
    await partial.settle()
    # first the save's snapshot, taken before its fsync (record 1 is on disk now), then
    # one write for the checkpoint and the save queued behind it, with the newest state
    assert written == [[(0, 2)], [(0, 4)]]
    assert claimed(partial) == [(0, 4)] == partial.durable.ranges()
    assert not partial.unchecked


async def test_closing_waits_for_the_write_in_flight_and_saves_the_rest(background, monkeypatch):
    """Finish, failure or Ctrl-C all end in `close`: the last progress is on disk then."""
    source, partial = background
    slow = SlowFsync(partial)
    monkeypatch.setattr(os, "fsync", slow)
    partial.accept(source.record(0), Via.P2P)
    partial.accept(source.record(1), Via.P2P)  # a save: its fsync is held
    assert await asyncio.to_thread(slow.entered.wait, WAIT)
    partial.accept(source.record(2), Via.P2P)
    closing = asyncio.create_task(asyncio.to_thread(partial.close))
    await asyncio.sleep(0.05)
    assert not closing.done()  # waiting for the fsync, not leaving without the last write
    slow.release.set()
    await asyncio.wait_for(closing, WAIT)
    assert claimed(partial) == [(0, 3)]
    again = PartialFile.resume(partial.work_dir, KEYS.file_key)
    assert again is not None
    assert again.missing().ranges() == [(3, 6)]
    again.close()


async def test_a_failed_progress_write_keeps_the_previous_record_and_stops_the_receiver(
        background, monkeypatch):
    source, partial = background
    partial.accept(source.record(0), Via.P2P)
    await partial.settle()
    real_replace = os.replace

    def replace(src, dst):  # a full disk cannot be provoked here: ENOSPC, once
        monkeypatch.setattr(os, "replace", real_replace)
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", replace)
    partial.accept(source.record(1), Via.P2P)  # its save fails in the worker thread
    with pytest.raises(OSError, match="No space left"):
        await partial.settle()
    assert claimed(partial) == [(0, 1)] == partial.durable.ranges()
    partial.accept(source.record(2), Via.P2P)  # the next write covers what failed
    await partial.settle()
    assert claimed(partial) == [(0, 3)] == partial.durable.ranges()
