"""Many files as one stream (manifest version 2, #15): sealed by `TreeSource`, received
by `PartialTree`, in process (the e2e tests run the same over the real transports)."""

from __future__ import annotations

import hashlib
import os
import random

import pytest

from transfer_core import sink, tree_sink
from transfer_core.errors import (
    DestinationExistsError,
    HashMismatchError,
    SourceChangedError,
    TamperedRecordError,
    UnsafePathError,
)
from transfer_core.protocol.manifest import open_manifest, seal_manifest
from transfer_core.protocol.progress import ProgressRecord, Via
from transfer_core.protocol.record import (
    MAX_MANIFEST_BYTES,
    split_manifest_records,
)
from transfer_core.protocol.tree import Entry, TreeManifest
from transfer_core.sink import PartialFile
from transfer_core.tree_sink import PartialTree
from transfer_core.tree_source import TreeSource, collect, open_source

KEY = bytes(range(32))


def make_tree(root):
    (root / "photos" / "2026").mkdir(parents=True)
    (root / "photos" / "empty-folder").mkdir()
    (root / "photos" / "2026" / "a.jpg").write_bytes(os.urandom(100_000))
    (root / "photos" / "b.jpg").write_bytes(os.urandom(70_000))
    (root / "photos" / "empty.txt").write_bytes(b"")
    (root / "notes.txt").write_text("notes\n")
    return [root / "photos", root / "notes.txt"]


def deliver(source, out, order=None, file_key=KEY):
    partial = PartialFile.open(out / ".work", file_key, source.manifest_record)
    indices = list(range(source.layout.count)) if order is None else order
    for index in indices:
        partial.accept(source.record(index), Via.P2P)
    return partial


def test_a_tree_arrives_whole(tmp_path):
    paths = make_tree(tmp_path / "src")
    source = open_source(paths, KEY, 16384)
    assert isinstance(source, TreeSource) and isinstance(source.manifest, TreeManifest)
    kinds = {e.path: e.kind for e in source.manifest.entries}
    assert kinds["photos/empty-folder"] == "dir" and kinds["photos/empty.txt"] == "file"
    out = tmp_path / "out"
    partial = deliver(source, out)
    assert isinstance(partial, PartialTree)
    # in-order arrival: every non-empty file verified as its last byte came
    assert len(partial.verified) == 3
    dest = partial.finalize(out)
    assert dest == out  # two top-level entries: the output folder itself
    for rel in ("photos/2026/a.jpg", "photos/b.jpg", "photos/empty.txt", "notes.txt"):
        assert (out / rel).read_bytes() == (tmp_path / "src" / rel).read_bytes()
    assert (out / "photos" / "empty-folder").is_dir()
    assert not list(out.glob(".work"))
    mtime = int((tmp_path / "src" / "notes.txt").stat().st_mtime)
    assert int((out / "notes.txt").stat().st_mtime) == mtime


def test_out_of_order_and_resumed_arrival_is_verified_at_the_end(tmp_path):
    paths = make_tree(tmp_path / "src")
    source = open_source(paths, KEY, 16384)
    out = tmp_path / "out"
    order = list(range(source.layout.count))
    random.Random(1).shuffle(order)
    half = len(order) // 2
    first = deliver(source, out, order[:half])
    first.close()
    again = PartialFile.open(out / ".work", KEY, source.manifest_record)
    assert len(again.progress.held) == half  # the same transfer: progress kept
    for index in order[half:]:
        again.accept(source.record(index), Via.S3)
    again.finalize(out)
    assert (out / "photos" / "b.jpg").read_bytes() == (tmp_path / "src/photos/b.jpg").read_bytes()


def test_a_changed_entry_is_a_hash_mismatch_and_nothing_is_placed(tmp_path):
    paths = make_tree(tmp_path / "src")
    found = collect(paths)
    source = TreeSource.create(found, KEY, 16384)
    # the sender's file changes to other bytes of the same size and time: records seal
    # fine, but the entry's hash no longer matches
    target = tmp_path / "src" / "notes.txt"
    st = target.stat()
    target.write_text("NOTES\n")
    os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns))
    out = tmp_path / "out"
    with pytest.raises(HashMismatchError, match="notes.txt"):
        deliver(source, out)
    assert not (out / "notes.txt").exists() and not (out / "photos").exists()


def test_a_source_file_changed_during_the_transfer_stops_the_sender(tmp_path):
    paths = make_tree(tmp_path / "src")
    source = open_source(paths, KEY, 16384)
    (tmp_path / "src" / "notes.txt").write_text("longer notes now\n")
    with pytest.raises(SourceChangedError):
        for index in range(source.layout.count):
            source.record(index)


def test_existing_files_are_not_overwritten_without_force(tmp_path):
    paths = make_tree(tmp_path / "src")
    source = open_source(paths, KEY, 16384)
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    partial = deliver(source, out)
    assert partial.conflict(out) == out / "notes.txt"
    with pytest.raises(DestinationExistsError):
        partial.finalize(out)
    assert (out / "notes.txt").read_text() == "mine"
    partial.finalize(out, force=True)
    assert (out / "notes.txt").read_text() == "notes\n"


def test_a_symlink_in_the_output_folder_is_not_followed(tmp_path):
    paths = make_tree(tmp_path / "src")
    source = open_source(paths, KEY, 16384)
    out = tmp_path / "out"
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    out.mkdir()
    (out / "photos").symlink_to(elsewhere)
    partial = deliver(source, out)
    with pytest.raises(UnsafePathError) as caught:
        partial.finalize(out, force=True)
    assert caught.value.reason == "link"
    assert not any(elsewhere.iterdir())


def test_symlinks_inside_folders_are_skipped_and_listed(tmp_path):
    root = tmp_path / "src"
    root.mkdir()
    (root / "real.txt").write_text("x")
    (root / "link.txt").symlink_to(root / "real.txt")
    (root / "loop").symlink_to(root)
    found = collect([root])
    assert [rel for rel, _, _ in found.entries] == ["src", "src/real.txt"]
    assert sorted(p.name for p, _ in found.skipped) == ["link.txt", "loop"]


def test_ten_thousand_entries_span_several_manifest_records():
    """The list alone (the files on disk: 1,000 of them in the e2e test)."""
    entries = [Entry("many", "dir", 0)] + [
        Entry(f"many/f{i:05d}.txt", "file", 1_767_225_600, len(b"%d\n" % i),
              hashlib.sha256(b"%d\n" % i).hexdigest()) for i in range(10_000)]
    manifest = TreeManifest(tuple(entries), 65536, "2026-01-01T00:00:00Z")
    sealed = seal_manifest(KEY, bytes(16), manifest)
    records = split_manifest_records(sealed)
    assert len(records) > 100
    assert all(len(r) == 64 + MAX_MANIFEST_BYTES for r in records[:-1])
    opened, cipher = open_manifest(KEY, sealed)
    assert opened == manifest and cipher.count == manifest.chunk_count
    # the last file's bytes sit at the end of the stream
    last = manifest.spans(manifest.size - 5, 5)
    assert last == [(10_000, 0, 5)]


def test_manifest_records_out_of_order_or_missing_are_refused(tmp_path):
    root = tmp_path / "many"
    root.mkdir()
    for i in range(300):
        (root / f"a-rather-long-file-name-{i:05d}.txt").write_bytes(b"x")
    source = open_source([root], KEY, 65536)
    records = split_manifest_records(source.manifest_record)
    assert len(records) >= 3
    swapped = records[1] + records[0] + b"".join(records[2:])
    cut = b"".join(records[:-1])
    for blob in (swapped, cut):
        with pytest.raises(TamperedRecordError):
            open_manifest(KEY, blob)


def test_a_save_puts_every_written_entry_on_disk_before_progress_names_it(tmp_path, monkeypatch):
    """More entries than open descriptors, fsynced in parallel: every file written since
    the last save is fsynced (closed ones reopened) before progress.json is saved, and
    an fsync that fails leaves progress unsaved and the entry owed to the next save."""
    src = tmp_path / "src"
    src.mkdir()
    count = tree_sink.MAX_OPEN_FILES * 2 + 5
    for i in range(count):
        (src / f"{i:04d}.bin").write_bytes(os.urandom(3000))
    source = open_source([src], KEY, 16384)
    partial = PartialFile.open(tmp_path / ".work", KEY, source.manifest_record)
    monkeypatch.setattr(sink, "PERSIST_EVERY_RECORDS", 10**9)  # only the saves below
    monkeypatch.setattr(sink, "PERSIST_EVERY_SECONDS", 10**9)
    for index in range(source.layout.count):
        partial.accept(source.record(index), Via.P2P)
    assert isinstance(partial, PartialTree)  # what `open` makes of a tree's manifest
    files = partial.work_dir / tree_sink.FILES_DIR
    written = {(files / str(i)).stat().st_ino
               for i, entry in enumerate(partial.manifest.entries) if not entry.is_dir}
    assert len(written) == count
    progress = partial.work_dir / "progress.json"
    saved_before = progress.read_bytes()
    real_fsync = os.fsync
    synced: list[int] = []
    failing = {next(iter(written))}

    def fsync(fd):  # a failing disk cannot be provoked here: EIO for one file, once
        ino = os.fstat(fd).st_ino
        if ino in failing:
            failing.clear()
            raise OSError(5, "Input/output error")
        synced.append(ino)
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    with pytest.raises(OSError):
        partial.save()
    assert progress.read_bytes() == saved_before  # nothing claimed after a failed flush
    synced.clear()
    partial.save()
    assert set(synced) == written  # every entry owed, the failed one included
    assert ProgressRecord.load(progress).complete
    partial.close()
