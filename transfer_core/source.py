"""The sender's side of a file: hashed once, then read and sealed lazily, record by record."""

from __future__ import annotations

import hashlib
import mimetypes
import os
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from .errors import SourceChangedError
from .protocol.keys import TRANSFER_ID_BYTES
from .protocol.layout import DEFAULT_RECORD_SIZE, ChunkLayout
from .protocol.manifest import Manifest, manifest_name, open_manifest, seal_manifest, utc_now
from .protocol.record import RecordCipher, SealedRecord

_HASH_BLOCK = 1 << 20

__all__ = ["FileSource", "sha256_file"]


def sha256_file(path: Path | str, block: int = _HASH_BLOCK) -> str:
    """Hex SHA-256 of a file, read in bounded blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while data := fh.read(block):
            digest.update(data)
    return digest.hexdigest()


class FileSource:
    """A file being sent: its manifest, and any of its sealed records on demand.

    Nonce safety rests on never sealing two different plaintexts at one index under
    one transfer id; so every read checks the file has not changed since hashing.
    """

    def __init__(
        self,
        path: Path | str,
        file_key: bytes,
        manifest: Manifest,
        transfer_id: bytes,
    ) -> None:
        self.path = Path(path)
        self.manifest = manifest
        self.transfer_id = transfer_id
        self.layout: ChunkLayout = manifest.layout
        self._cipher = RecordCipher(file_key, transfer_id, self.layout)
        self._fd = os.open(self.path, os.O_RDONLY)
        self._stamp = self._stat_stamp()
        self.manifest_record = seal_manifest(file_key, transfer_id, manifest)

    @classmethod
    def create(
        cls,
        path: Path | str,
        file_key: bytes,
        record_size: int = DEFAULT_RECORD_SIZE,
        *,
        name: str | None = None,
        randbytes: Callable[[int], bytes] = os.urandom,
        clock: Callable[[], str] = utc_now,
    ) -> FileSource:
        """Start a new transfer of `path`: hash it, fix its manifest, pick a fresh transfer id."""
        path = Path(path)
        name = manifest_name(name or path.name)  # a name every receiver accepts
        before = os.stat(path)
        manifest = Manifest(
            name=name,
            size=before.st_size,
            media_type=mimetypes.guess_type(name)[0] or "application/octet-stream",
            record_size=record_size,
            sha256=sha256_file(path),
            created=clock(),
        )
        source = cls(path, file_key, manifest, randbytes(TRANSFER_ID_BYTES))
        if (before.st_size, before.st_mtime_ns) != source._stamp:
            source.close()
            raise SourceChangedError(f"{path} changed while it was being hashed")
        return source

    @classmethod
    def resume(cls, path: Path | str, file_key: bytes, manifest_record: bytes) -> FileSource:
        """Go on with an earlier transfer (same transfer id) only if the file is the same bytes."""
        manifest, cipher = open_manifest(file_key, manifest_record)
        if not isinstance(manifest, Manifest):
            raise SourceChangedError("this transfer sent several files and folders: name them"
                                     " all, as when it started")
        if sha256_file(path) != manifest.sha256:
            raise SourceChangedError(
                f"{path} is not the file this transfer started with; send it as a new transfer"
            )
        return cls(path, file_key, manifest, cipher.transfer_id)

    def _stat_stamp(self) -> tuple[int, int]:
        st = os.fstat(self._fd)
        return st.st_size, st.st_mtime_ns

    def record(self, index: int) -> bytes:
        """Read chunk `index` from disk and seal it."""
        return bytes(self.sealed(index))

    def sealed(self, index: int) -> SealedRecord:
        """`record(index)`, header and ciphertext apart (see `SealedRecord`)."""
        length = self.layout.length(index)
        data = os.pread(self._fd, length, self.layout.offset(index))
        if len(data) != length or self._stat_stamp() != self._stamp:
            raise SourceChangedError(f"{self.path} changed on disk during the transfer")
        return self._cipher.sealed(index, data)

    def records(self, indices: Iterable[int]) -> Iterator[tuple[int, bytes]]:
        for index in indices:
            yield index, self.record(index)

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def __enter__(self) -> FileSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
