"""The receiver's side: verified chunks written at their offsets, progress kept on disk.

A transfer in progress lives in a work folder beside the destination:

    <dest>/.sgraph-send-<room id>/manifest.rec   the sealed manifest, as received
                                  /data           chunks at their offsets (sparse)
                                  /progress.json  which chunks are held, and by which path

Only verified plaintext is ever written, the progress record never claims a chunk
before its data is written to the file, and the file takes its final name only
after the whole-file SHA-256 matches the manifest.

Two depths of saving: a *checkpoint* (every `CHECKPOINT_EVERY_RECORDS` records or
`CHECKPOINT_EVERY_SECONDS`) writes the progress record for chunks already handed to
the kernel, which a killed process cannot lose, so a restarted receiver holds all
but the last few records and the sender re-sends little more than what was in
flight; a *save* (every `PERSIST_EVERY_RECORDS` or `PERSIST_EVERY_SECONDS`) fsyncs the
data first, against power loss. Acknowledgements carry checkpointed chunks.

Opened with `background=True` (the receiving session, on the event loop), checkpoints
and saves run in a worker thread (`progress_writer`), so no fsync stalls the loop: a
record's chunk becomes `durable` once the write that names it is done, and `settle()`
waits for that; `save()` and `close()` still return only once everything is written.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import time
import unicodedata
from pathlib import Path

from .errors import (
    DestinationExistsError,
    DuplicateRecordError,
    HashMismatchError,
    SGraphSendError,
    TruncatedTransferError,
)
from .progress_writer import Flush, ProgressWriter
from .protocol.manifest import AnyManifest, Manifest, open_manifest
from .protocol.progress import ProgressRecord, Via
from .protocol.ranges import RangeSet
from .protocol.record import RecordCipher
from .protocol.tree import TreeManifest
from .source import sha256_file

PERSIST_EVERY_RECORDS = 512
PERSIST_EVERY_SECONDS = 0.5
CHECKPOINT_EVERY_RECORDS = 8
CHECKPOINT_EVERY_SECONDS = 0.05

__all__ = ["PartialFile", "safe_file_name", "work_dir_for"]


def work_dir_for(dest_dir: Path | str, room_id: str) -> Path:
    """Where the transfer of `room_id` is assembled (found again by a restarted receiver)."""
    return Path(dest_dir) / f".sgraph-send-{room_id}"


def safe_file_name(name: str) -> str:
    """The sender's file name reduced to one harmless path component."""
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    base = "".join(c for c in base if unicodedata.category(c)[0] != "C").strip()
    if base in ("", ".", ".."):
        return "received-file"
    return base


class PartialFile:
    """A transfer being received: accepts sealed records, finishes into the named file."""

    def __init__(self, work_dir: Path, manifest: AnyManifest, cipher: RecordCipher,
                 progress: ProgressRecord, background: bool = False) -> None:
        self.work_dir = work_dir
        self.manifest = manifest
        self.cipher = cipher
        self.progress = progress
        self._fd = -1
        self._closed = False
        self._open_data()
        self._unsaved = 0
        self._saved_at = time.monotonic()
        self._unchecked = 0
        self._checked_at = self._saved_at
        self.duplicates = 0
        self.duplicate_bytes = 0
        """Bytes of records that arrived again (already held): re-sent, as seen here."""
        self.durable = RangeSet(progress.count, progress.held.ranges())
        """Chunks whose data and progress are written (checkpointed or saved): all a
        receiver may acknowledge, since a sender that falls back to storage trusts
        acknowledgements (a killed receiver loses what it held only in memory)."""
        self._writer = ProgressWriter(work_dir / "progress.json", self._written,
                                      background=background)

    @classmethod
    def open(cls, work_dir: Path | str, file_key: bytes, manifest_record: bytes,
             background: bool = False) -> PartialFile:
        """Start, or take up again, the transfer whose sealed manifest is `manifest_record`.

        Earlier progress is kept if it belongs to the same transfer id, or to a transfer of
        the same bytes (same SHA-256, size and record size: a sender that restarted).
        `background`: progress written in a worker thread (see the module's notes).
        """
        work_dir = Path(work_dir)
        manifest, cipher = open_manifest(file_key, manifest_record)
        if isinstance(manifest, TreeManifest) and cls is PartialFile:
            from .tree_sink import PartialTree  # many files: the same, written as a tree
            cls = PartialTree
        work_dir.mkdir(parents=True, exist_ok=True)
        progress = cls._earlier_progress(work_dir, file_key, manifest)
        if progress is None:
            progress = ProgressRecord(cipher.transfer_id, manifest.chunk_count)
            cls._discard(work_dir)
        progress.transfer_id = cipher.transfer_id
        (work_dir / "manifest.rec").write_bytes(manifest_record)
        progress.save(work_dir / "progress.json")
        return cls(work_dir, manifest, cipher, progress, background)

    # --- where the plaintext goes (one `data` file here; a tree in `PartialTree`) ----

    def _open_data(self) -> None:
        self._fd = os.open(self.work_dir / "data", os.O_RDWR | os.O_CREAT, 0o600)
        os.ftruncate(self._fd, self.manifest.size)

    @staticmethod
    def _discard(work_dir: Path) -> None:
        (work_dir / "data").unlink(missing_ok=True)

    def _write(self, index: int, plaintext: bytes) -> None:
        os.pwrite(self._fd, plaintext, self.manifest.layout.offset(index))

    def _flush(self) -> Flush:
        """What puts the data written so far on disk, to run later, maybe in another
        thread (the descriptor stays open until `close`, which waits for it)."""
        fd = self._fd
        return lambda: os.fsync(fd)

    def _close_data(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    @staticmethod
    def _earlier_progress(
        work_dir: Path, file_key: bytes, manifest: AnyManifest
    ) -> ProgressRecord | None:
        try:
            earlier, _ = open_manifest(file_key, (work_dir / "manifest.rec").read_bytes())
            progress = ProgressRecord.load(work_dir / "progress.json")
        except (OSError, SGraphSendError):  # an unreadable leftover is started afresh
            return None
        same = earlier.identity == manifest.identity
        return progress if same and progress.count == manifest.chunk_count else None

    @classmethod
    def resume(cls, work_dir: Path | str, file_key: bytes) -> PartialFile | None:
        """Reopen an interrupted transfer from its own saved manifest, if there is one."""
        path = Path(work_dir) / "manifest.rec"
        if not path.exists():
            return None
        return cls.open(work_dir, file_key, path.read_bytes())

    # --- receiving -------------------------------------------------------------

    def accept(self, record: bytes, via: Via, expected_index: int | None = None) -> int:
        """Verify one record and write its chunk; return its index.

        Raises a `RecordError` (nothing written) or `DuplicateRecordError` (already held).
        """
        index, plaintext = self.cipher.open(record, expected_index)
        if self.progress.holds(index):
            self.duplicates += 1
            self.duplicate_bytes += len(record)
            raise DuplicateRecordError(f"record {index} was already received")
        self._write(index, plaintext)
        self.progress.mark(index, via)
        self._unsaved += 1
        self._unchecked += 1
        now = time.monotonic()
        if (
            self._unsaved >= PERSIST_EVERY_RECORDS
            or now - self._saved_at >= PERSIST_EVERY_SECONDS
        ):
            self._request(self._flush())
        elif (
            self._unchecked >= CHECKPOINT_EVERY_RECORDS
            or now - self._checked_at >= CHECKPOINT_EVERY_SECONDS
        ):
            self.checkpoint()
        return index

    @property
    def unchecked(self) -> int:
        """Records accepted and not yet recorded (a write in flight counts as one)."""
        return self._unchecked or int(self._writer.busy)

    def checkpoint(self) -> None:
        """Record progress for chunks already written (no fsync: survives a killed
        process, not a power loss; `save` covers that). In the background, `durable`
        follows once written (`settle`)."""
        self._request(None)

    def save(self) -> None:
        """Flush data, then record progress (the record never claims unflushed chunks),
        and wait for both, whichever thread writes them."""
        self._request(self._flush())
        self._writer.wait()

    async def settle(self) -> None:
        """Wait, without blocking the loop, for the progress writes asked for so far."""
        if self._writer.busy:
            await asyncio.to_thread(self._writer.wait)
        else:
            self._writer.wait()  # raises a failed write's error

    def _request(self, flush: Flush | None) -> None:
        # the snapshot is taken here, after the chunks it names were written, and
        # before `flush` (made just now) runs: it claims nothing `flush` leaves out
        self._writer.request(self.progress.copy(), flush)
        self._unchecked = 0
        self._checked_at = now = time.monotonic()
        if flush is not None:
            self._unsaved = 0
            self._saved_at = now

    def _written(self, snapshot: ProgressRecord) -> None:
        # in the writing thread; one assignment, read by the loop at its next record
        self.durable = snapshot.held

    @property
    def complete(self) -> bool:
        return self.progress.complete

    def missing(self) -> RangeSet:
        return self.progress.missing()

    # --- finishing -------------------------------------------------------------

    def destination(self, dest_dir: Path | str) -> Path:
        return Path(dest_dir) / safe_file_name(self.manifest.name)

    def conflict(self, dest_dir: Path | str) -> Path | None:
        """A file already where this transfer would put one (`--force` overwrites it)."""
        dest = self.destination(dest_dir)
        return dest if dest.exists() else None

    def _require_complete(self) -> None:
        """Every record is here (else `TruncatedTransferError`), and saved so."""
        if not self.complete:
            missing = self.missing()
            raise TruncatedTransferError(
                f"{len(missing)} of {self.progress.count} records are missing"
                f" (first missing: {missing.ranges()[0][0]})"
            )
        self.save()

    def finalize(self, dest_dir: Path | str, force: bool = False) -> Path:
        """Check completeness and the whole-file hash, then give the file its name."""
        self._require_complete()
        assert isinstance(self.manifest, Manifest)  # a tree finishes in `PartialTree`
        if sha256_file(self.work_dir / "data") != self.manifest.sha256:
            raise HashMismatchError(
                "every record verified but the file's SHA-256 differs from the manifest"
            )
        dest = self.destination(dest_dir)
        if dest.exists() and not force:
            raise DestinationExistsError(f"{dest} exists; pass --force to overwrite it")
        self.close()
        os.replace(self.work_dir / "data", dest)
        shutil.rmtree(self.work_dir, ignore_errors=True)
        return dest

    def close(self) -> None:
        """Save what is unsaved, wait for every write (finish, failure or Ctrl-C: the
        last progress is on disk when this returns), and close the data."""
        try:
            if not self._closed and self._unsaved:
                self.save()
        finally:
            self._closed = True
            self._writer.close()
            self._close_data()

    def __enter__(self) -> PartialFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
