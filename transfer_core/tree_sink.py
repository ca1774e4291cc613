"""Many files received: the stream's chunks written into the entries' files as they come.

The work folder is the one-file receiver's (`sink.PartialFile`), with the entries' bytes
in `files/<entry index>` instead of one `data` file (named by index: nothing the sender
chose is a name on disk before the whole list passed `protocol.paths`):

    <dest>/.sgraph-send-<room id>/manifest.rec   the sealed manifest records, as received
                                  /files/<i>      entry i's bytes at their offsets
                                  /progress.json  held chunks, as for one file

Each file's SHA-256 is checked the moment its last byte arrives in order (hashed as it
is written, no second read); files completed out of order (parallel fetches, a resumed
run) are hashed from disk at the end. Only when every entry has verified do the files
take their final names under the output folder, folders created (empty ones too) and
modification times set.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from .errors import (
    DestinationExistsError,
    HashMismatchError,
    UnsafePathError,
)
from .progress_writer import Flush
from .protocol.tree import Entry, TreeManifest
from .sink import PartialFile
from .source import sha256_file

logger = logging.getLogger(__name__)
FILES_DIR = "files"
MAX_OPEN_FILES = 64
FSYNC_THREADS = 16
"""fsyncs of one save run at once: the file system commits its journal once for all
of them instead of once per file (1,000 small files: ~2.5 s one by one, ~0.15 s so)."""
_EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()

__all__ = ["PartialTree"]


class PartialTree(PartialFile):
    """A transfer of many files being received (manifest version 2)."""

    manifest: TreeManifest

    def _open_data(self) -> None:
        (self.work_dir / FILES_DIR).mkdir(exist_ok=True)
        self._fds: dict[int, int] = {}
        self._dirty: set[int] = set()
        self._hashing: dict[int, tuple[hashlib._Hash, int]] = {}
        """Entries being hashed as they arrive: the hash so far and the next offset."""
        self.verified: set[int] = set()
        """Entries whose SHA-256 has matched."""
        self._fsyncs: ThreadPoolExecutor | None = None

    @staticmethod
    def _discard(work_dir: Path) -> None:
        shutil.rmtree(work_dir / FILES_DIR, ignore_errors=True)
        (work_dir / "data").unlink(missing_ok=True)

    def _entry_file(self, index: int) -> Path:
        return self.work_dir / FILES_DIR / str(index)

    def _fd_for(self, index: int) -> int:
        fd = self._fds.get(index)
        if fd is None:
            if len(self._fds) >= MAX_OPEN_FILES:  # bounded, whatever the number of entries
                self._close_data()
            fd = os.open(self._entry_file(index), os.O_RDWR | os.O_CREAT, 0o600)
            self._fds[index] = fd
        return fd

    def _write(self, index: int, plaintext: bytes) -> None:
        layout = self.manifest.layout
        view = memoryview(plaintext)
        at = 0
        for entry_index, offset, length in self.manifest.spans(layout.offset(index),
                                                              len(plaintext)):
            piece = view[at:at + length]
            os.pwrite(self._fd_for(entry_index), piece, offset)
            self._dirty.add(entry_index)
            self._hash_in_order(entry_index, offset, piece)
            at += length

    def _hash_in_order(self, index: int, offset: int, piece: memoryview) -> None:
        if index in self.verified:
            return
        digest, next_offset = self._hashing.get(index, (None, 0))
        if offset != next_offset:
            return  # out of order: hashed from disk at the end
        digest = digest or hashlib.sha256()
        digest.update(piece)
        next_offset += len(piece)
        entry = self.manifest.entries[index]
        if next_offset < entry.size:
            self._hashing[index] = (digest, next_offset)
            return
        self._hashing.pop(index, None)
        self._check(entry, digest.hexdigest())
        self.verified.add(index)

    @staticmethod
    def _check(entry: Entry, sha256: str) -> None:
        if sha256 != entry.sha256:
            raise HashMismatchError(
                f"{entry.path}: every record verified but the file's SHA-256 differs from"
                " the manifest"
            )

    def _flush(self) -> Flush:
        """What fsyncs every entry written since the last save, in parallel; it returns
        once all are on disk, so the progress saved next names only bytes that are.
        By path, not descriptor: it may run in the progress writer's thread while
        this one closes descriptors (`MAX_OPEN_FILES`) and opens others."""
        paths = [self._entry_file(index) for index in self._dirty]
        self._dirty = set()
        if self._fsyncs is None and len(paths) > 1:
            self._fsyncs = ThreadPoolExecutor(FSYNC_THREADS, thread_name_prefix="fsync")
        fsyncs = self._fsyncs

        def flush() -> None:
            if len(paths) == 1:
                _fsync(None, paths[0])
            elif paths:
                assert fsyncs is not None
                for _ in fsyncs.map(_fsync, [None] * len(paths), paths):  # re-raises
                    pass

        return flush

    def _close_data(self) -> None:
        for fd in self._fds.values():
            os.close(fd)
        self._fds.clear()

    def close(self) -> None:
        super().close()
        if self._fsyncs is not None:
            self._fsyncs.shutdown()
            self._fsyncs = None

    # --- finishing -------------------------------------------------------------

    def destination(self, dest_dir: Path | str) -> Path:
        """The one top-level entry's path, else the output folder itself."""
        tops = {e.path.split("/", 1)[0] for e in self.manifest.entries}
        return Path(dest_dir) / tops.pop() if len(tops) == 1 else Path(dest_dir)

    def conflict(self, dest_dir: Path | str) -> Path | None:
        """The first entry already there as a file (folders are merged into)."""
        for entry in self.manifest.entries:
            dest = Path(dest_dir) / entry.path
            if os.path.lexists(dest) and (not entry.is_dir or not dest.is_dir()):
                return dest
        return None

    def entry_at(self, offset: int) -> tuple[int, Entry]:
        """The entry a stream offset falls in (progress: the file being received)."""
        spans = self.manifest.spans(min(offset, max(0, self.manifest.size - 1)), 1)
        index = spans[0][0] if spans else len(self.manifest.entries) - 1
        return index, self.manifest.entries[index]

    def finalize(self, dest_dir: Path | str, force: bool = False) -> Path:
        """Check completeness and every entry's hash, then give the tree its names."""
        self._require_complete()
        entries = self.manifest.entries
        for index, entry in enumerate(entries):
            if entry.is_dir or index in self.verified:
                continue
            path = self._entry_file(index)
            self._check(entry, sha256_file(path) if entry.size else _EMPTY_SHA256)
            self.verified.add(index)
        dest_dir = Path(dest_dir)
        if (clash := self.conflict(dest_dir)) is not None and not force:
            raise DestinationExistsError(f"{clash} exists; pass --force to overwrite it")
        self.close()
        for index, entry in enumerate(entries):
            dest = self._place(dest_dir, entry)
            if entry.is_dir:
                dest.mkdir(exist_ok=True)
                continue
            source = self._entry_file(index)
            if not source.exists():  # an empty file: nothing was ever written to it
                source.touch(0o600)
            os.replace(source, dest)
            os.utime(dest, (entry.mtime, entry.mtime))
        # folders last, deepest first: placing their contents changed their times
        for entry in sorted((e for e in entries if e.is_dir), key=lambda e: -e.path.count("/")):
            os.utime(dest_dir / entry.path, (entry.mtime, entry.mtime))
        shutil.rmtree(self.work_dir, ignore_errors=True)
        return self.destination(dest_dir)

    @staticmethod
    def _place(dest_dir: Path, entry: Entry) -> Path:
        """Make the entry's parent folders; refuse to pass through a link (a symlink
        already in the output folder could lead a write outside it)."""
        parent = dest_dir
        for segment in entry.path.split("/")[:-1]:
            parent = parent / segment
            if parent.is_symlink() or (parent.exists() and not parent.is_dir()):
                raise UnsafePathError("link", entry.path,
                                      f"{parent} is a link or a file, not a folder")
            parent.mkdir(exist_ok=True)
        dest = parent / entry.path.rsplit("/", 1)[-1]
        if dest.is_symlink():
            raise UnsafePathError("link", entry.path, f"{dest} is a link")
        return dest


def _fsync(fd: int | None, path: Path) -> None:
    """fsync an entry's file through its open descriptor, else by opening it again."""
    if fd is not None:
        os.fsync(fd)
        return
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
