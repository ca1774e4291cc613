"""The sender's side of many files and folders: one byte stream over several files.

`collect` walks the paths a person named (folders recursively, in name order); symbolic
links met inside a folder are not followed but skipped and listed (a link could lead
anywhere, a loop included), and so is anything that is not a regular file or a folder.
`TreeSource` then hashes every file once and seals any record of the stream on demand,
reading the slices of the files it spans, each checked against the size and
modification time it had when hashed (a changed file would seal two plaintexts under
one nonce: *source changed*).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from .errors import SourceChangedError
from .protocol.keys import TRANSFER_ID_BYTES
from .protocol.layout import DEFAULT_RECORD_SIZE, ChunkLayout
from .protocol.manifest import open_manifest, seal_manifest, utc_now
from .protocol.paths import check_tree
from .protocol.record import RecordCipher, SealedRecord
from .protocol.tree import KIND_DIR, KIND_FILE, Entry, TreeManifest
from .source import FileSource, sha256_file

__all__ = ["Collected", "TreeSource", "collect", "open_source", "resume_source"]


@dataclass
class Collected:
    """What `collect` found: entries with their local paths, and what it left out."""

    entries: list[tuple[str, str, Path]] = field(default_factory=list)
    """`(relative path, kind, local path)` in stream order."""
    skipped: list[tuple[Path, str]] = field(default_factory=list)
    """`(local path, why)`: links not followed, sockets, devices, …"""


def _top_name(path: Path) -> str:
    return Path(os.path.abspath(path)).name or "root"


def collect(paths: Sequence[Path | str]) -> Collected:
    """The entries of the named paths (`FileNotFoundError` for a missing one); the
    relative paths are checked as a receiver would (`UnsafePathError`)."""
    found = Collected()

    def walk(local: Path, rel: str) -> None:
        found.entries.append((rel, KIND_DIR, local))
        with os.scandir(local) as it:
            children = sorted(it, key=lambda d: d.name)
        for child in children:
            child_rel = f"{rel}/{child.name}"
            if child.is_symlink():
                found.skipped.append((Path(child.path), "a symbolic link (not followed)"))
            elif child.is_dir(follow_symlinks=False):
                walk(Path(child.path), child_rel)
            elif child.is_file(follow_symlinks=False):
                found.entries.append((child_rel, KIND_FILE, Path(child.path)))
            else:
                found.skipped.append((Path(child.path), "not a regular file or a folder"))

    for given in map(Path, paths):
        # a path named on the command line is taken as the person named it (a link too)
        if given.is_dir():
            walk(given, _top_name(given))
        elif given.is_file():
            found.entries.append((_top_name(given), KIND_FILE, given))
        else:
            raise FileNotFoundError(f"{given} is not a file or a folder")
    check_tree((rel, kind == KIND_DIR) for rel, kind, _ in found.entries)
    return found


def _stamp(st: os.stat_result) -> tuple[int, int]:
    return st.st_size, st.st_mtime_ns


class TreeSource:
    """Many files being sent as one stream: its manifest, and any sealed record on demand
    (thread-safe: every read opens, checks and closes its file)."""

    def __init__(self, locals_: Sequence[Path], file_key: bytes, manifest: TreeManifest,
                 transfer_id: bytes, stamps: Sequence[tuple[int, int] | None]) -> None:
        self.paths = list(locals_)
        self.manifest = manifest
        self.transfer_id = transfer_id
        self.layout: ChunkLayout = manifest.layout
        self._cipher = RecordCipher(file_key, transfer_id, self.layout)
        self._stamps = list(stamps)
        self.manifest_record = seal_manifest(file_key, transfer_id, manifest)

    @classmethod
    def create(cls, found: Collected, file_key: bytes,
               record_size: int = DEFAULT_RECORD_SIZE, *,
               randbytes: Callable[[int], bytes] = os.urandom,
               clock: Callable[[], str] = utc_now) -> TreeSource:
        """Start a new transfer: hash every file, fix the manifest, pick a transfer id."""
        entries: list[Entry] = []
        stamps: list[tuple[int, int] | None] = []
        for rel, kind, local in found.entries:
            before = os.stat(local)
            if kind == KIND_DIR:
                entries.append(Entry(rel, KIND_DIR, int(before.st_mtime)))
                stamps.append(None)
                continue
            digest = sha256_file(local)
            if _stamp(os.stat(local)) != _stamp(before):
                raise SourceChangedError(f"{local} changed while it was being hashed")
            entries.append(Entry(rel, KIND_FILE, int(before.st_mtime), before.st_size, digest))
            stamps.append(_stamp(before))
        manifest = TreeManifest(tuple(entries), record_size, clock())
        return cls([local for _, _, local in found.entries], file_key, manifest,
                   randbytes(TRANSFER_ID_BYTES), stamps)

    @classmethod
    def resume(cls, found: Collected, file_key: bytes, manifest_record: bytes) -> TreeSource:
        """Go on with an earlier transfer only if the same paths hold the same bytes."""
        manifest, cipher = open_manifest(file_key, manifest_record)
        if not isinstance(manifest, TreeManifest) or [
            (e.path, e.kind) for e in manifest.entries
        ] != [(rel, kind) for rel, kind, _ in found.entries]:
            raise SourceChangedError("these are not the files this transfer started with;"
                                     " send them as a new transfer")
        stamps: list[tuple[int, int] | None] = []
        for entry, (_, _, local) in zip(manifest.entries, found.entries, strict=True):
            if entry.is_dir:
                stamps.append(None)
                continue
            before = os.stat(local)
            if before.st_size != entry.size or sha256_file(local) != entry.sha256:
                raise SourceChangedError(f"{local} is not the file this transfer started"
                                         " with; send the files as a new transfer")
            stamps.append(_stamp(before))
        return cls([local for _, _, local in found.entries], file_key, manifest,
                   cipher.transfer_id, stamps)

    def _read(self, index: int, offset: int, length: int) -> bytes:
        local = self.paths[index]
        fd = os.open(local, os.O_RDONLY)
        try:
            data = os.pread(fd, length, offset)
            if len(data) != length or _stamp(os.fstat(fd)) != self._stamps[index]:
                raise SourceChangedError(f"{local} changed on disk during the transfer")
        finally:
            os.close(fd)
        return data

    def record(self, index: int) -> bytes:
        """Read chunk `index` from the files it spans and seal it."""
        return bytes(self.sealed(index))

    def sealed(self, index: int) -> SealedRecord:
        """`record(index)`, header and ciphertext apart (see `SealedRecord`)."""
        layout = self.layout
        pieces = [self._read(entry, offset, length) for entry, offset, length
                  in self.manifest.spans(layout.offset(index), layout.length(index))]
        return self._cipher.sealed(index, b"".join(pieces))

    def records(self, indices: Iterable[int]) -> Iterator[tuple[int, bytes]]:
        for index in indices:
            yield index, self.record(index)

    def close(self) -> None:
        """Nothing held open between reads."""

    def __enter__(self) -> TreeSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _one_file(paths: Sequence[Path]) -> bool:
    """One regular file named: the version-1 manifest, which every receiver reads."""
    return len(paths) == 1 and paths[0].is_file()


def open_source(paths: Sequence[Path], file_key: bytes, record_size: int
                ) -> FileSource | TreeSource:
    """A new transfer of `paths`: one file as version 1, anything more as a tree."""
    if _one_file(paths):
        return FileSource.create(paths[0], file_key, record_size)
    return TreeSource.create(collect(paths), file_key, record_size)


def resume_source(paths: Sequence[Path], file_key: bytes, manifest_record: bytes
                  ) -> FileSource | TreeSource:
    """Take up the earlier transfer whose sealed manifest is `manifest_record`."""
    if _one_file(paths):
        return FileSource.resume(paths[0], file_key, manifest_record)
    return TreeSource.resume(collect(paths), file_key, manifest_record)

