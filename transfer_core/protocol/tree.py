"""The manifest of many files and folders (manifest version 2, protocol revision 2.1, #15).

A list of entries, each a relative POSIX path with its kind (`file` or `dir`), size,
modification time and (files) SHA-256. The files' bytes, in list order, laid end to end,
are the transfer's one byte stream: chunked, sealed, resumed and stored exactly as one
file's bytes are (docs/protocol.md §3, §10). No archive, no per-file channel. The list
may be longer than one manifest record: `RecordCipher.seal_manifest` spreads it over
several (`MAX_MANIFEST_RECORDS`).

Each file entry's SHA-256 is checked as soon as the entry is complete; there is no
whole-stream hash (the stream is nothing but the entries, so verifying every entry
verifies it all, without reading the data twice).
"""

from __future__ import annotations

import bisect
import hashlib
import json
import re
from dataclasses import dataclass, field
from typing import Any

from ..errors import ManifestError, RecordSizeError
from .layout import Chunked
from .paths import check_tree

TREE_MANIFEST_VERSION = 2
KIND_FILE = "file"
KIND_DIR = "dir"
_SHA256_HEX = re.compile(r"[0-9a-f]{64}")
_CREATED = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z")
_FIELDS = {"v", "entries", "size", "record_size", "chunk_count", "created"}
_FILE_FIELDS = {"kind", "path", "size", "mtime", "sha256"}
_DIR_FIELDS = {"kind", "path", "mtime"}

__all__ = ["Entry", "TreeManifest", "listing", "parse_any"]


def _int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


@dataclass(frozen=True)
class Entry:
    """One file or folder of a transfer."""

    path: str
    """Relative POSIX path (`photos/2026/a.jpg`), checked by `protocol.paths`."""
    kind: str
    """`file` or `dir` (a folder, carried so empty ones arrive too)."""
    mtime: int
    """Modification time, whole seconds since the epoch (the receiver sets it)."""
    size: int = 0
    """Bytes (0 for a folder)."""
    sha256: str = ""
    """Lowercase hex SHA-256 of the file's bytes ("" for a folder)."""

    @property
    def is_dir(self) -> bool:
        return self.kind == KIND_DIR

    def to_doc(self) -> dict[str, Any]:
        doc: dict[str, Any] = {"kind": self.kind, "path": self.path, "mtime": self.mtime}
        if not self.is_dir:
            doc.update(size=self.size, sha256=self.sha256)
        return doc

    @classmethod
    def from_doc(cls, doc: Any) -> Entry:
        if not isinstance(doc, dict) or doc.get("kind") not in (KIND_FILE, KIND_DIR):
            raise ManifestError("an entry is not an object of kind 'file' or 'dir'")
        fields = _DIR_FIELDS if doc["kind"] == KIND_DIR else _FILE_FIELDS
        if set(doc) != fields:
            raise ManifestError(f"an entry's fields are not {sorted(fields)}")
        if not isinstance(doc["path"], str) or not _int(doc["mtime"]):
            raise ManifestError("an entry's path or mtime has the wrong type")
        if doc["kind"] == KIND_DIR:
            return cls(doc["path"], KIND_DIR, doc["mtime"])
        if not _int(doc["size"]):
            raise ManifestError("an entry's size is not a whole number of bytes")
        if not isinstance(doc["sha256"], str) or not _SHA256_HEX.fullmatch(doc["sha256"]):
            raise ManifestError("an entry's sha256 is not 64 lowercase hex characters")
        return cls(doc["path"], KIND_FILE, doc["mtime"], doc["size"], doc["sha256"])


@dataclass(frozen=True)
class TreeManifest(Chunked):
    """Many files and folders, one byte stream: what a receiver needs before any chunk."""

    entries: tuple[Entry, ...]
    """Files and folders; files' bytes follow one another in this order."""
    record_size: int
    """Bytes of one full record (docs/protocol.md §3)."""
    created: str
    """RFC 3339 UTC time the sender made the manifest."""
    starts: tuple[int, ...] = field(init=False, repr=False, compare=False)
    """Where each entry's bytes start in the stream (a folder: where the next file starts)."""
    _size: int = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        starts, at = [], 0
        for entry in self.entries:
            starts.append(at)
            at += entry.size
        object.__setattr__(self, "starts", tuple(starts))
        object.__setattr__(self, "_size", at)

    @property
    def size(self) -> int:
        """Bytes of the whole stream: every file's size, added up."""
        return self._size

    @property
    def files(self) -> list[Entry]:
        return [e for e in self.entries if not e.is_dir]

    @property
    def name(self) -> str:
        """What to call the transfer: its one top-level folder or file, else a count."""
        tops = {e.path.split("/", 1)[0] for e in self.entries}
        if len(tops) == 1:
            return tops.pop()
        files = len(self.files)
        return f"{files} file{'s' * (files != 1)}"

    @property
    def identity(self) -> tuple[str, int, int]:
        """Same identity, same bytes: a restarted sender's new transfer id is adopted."""
        return hashlib.sha256(self._entries_json()).hexdigest(), self.size, self.record_size

    def spans(self, offset: int, length: int) -> list[tuple[int, int, int]]:
        """`(entry index, offset in that entry, bytes)` for stream bytes
        `[offset, offset + length)`, in order (empty files and folders never appear)."""
        out = []
        end = offset + length
        index = max(0, bisect.bisect_right(self.starts, offset) - 1)
        while offset < end and index < len(self.entries):
            entry, start = self.entries[index], self.starts[index]
            stop = start + entry.size
            if entry.size and offset < stop:
                take = min(stop, end) - offset
                out.append((index, offset - start, take))
                offset += take
            index += 1
        return out

    def _entries_json(self) -> bytes:
        return json.dumps([e.to_doc() for e in self.entries], sort_keys=True,
                          separators=(",", ":"), ensure_ascii=False).encode()

    def to_json(self) -> bytes:
        """Canonical JSON, as for version 1: sorted keys at every depth, no spaces, UTF-8."""
        doc = {
            "v": TREE_MANIFEST_VERSION,
            "entries": [e.to_doc() for e in self.entries],
            "size": self.size,
            "record_size": self.record_size,
            "chunk_count": self.chunk_count,
            "created": self.created,
        }
        return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()

    @classmethod
    def from_doc(cls, doc: dict[str, Any], data: bytes) -> TreeManifest:
        """Validate a parsed version-2 document (`data`: the bytes it came from)."""
        if set(doc) != _FIELDS:
            raise ManifestError("the manifest's fields are not the expected ones")
        if not isinstance(doc["entries"], list) or not doc["entries"]:
            raise ManifestError("the manifest lists no entries")
        for name in ("size", "record_size", "chunk_count"):
            if not _int(doc[name]):
                raise ManifestError(f"manifest field {name!r} has the wrong type")
        if not isinstance(doc["created"], str) or not _CREATED.fullmatch(doc["created"]):
            raise ManifestError("the manifest's created time is not YYYY-MM-DDThh:mm:ssZ")
        entries = tuple(Entry.from_doc(e) for e in doc["entries"])
        check_tree((e.path, e.is_dir) for e in entries)  # UnsafePathError names the rule
        try:
            manifest = cls(entries, doc["record_size"], doc["created"])
            count = manifest.chunk_count
        except (RecordSizeError, ValueError) as exc:
            raise ManifestError(f"the manifest's sizes are invalid: {exc}") from None
        if manifest.size != doc["size"] or count != doc["chunk_count"]:
            raise ManifestError("the manifest's size or chunk count does not follow from"
                                " its entries")
        if manifest.to_json() != data:
            raise ManifestError("the manifest is not in canonical form (sorted keys, no spaces)")
        return manifest


def listing(manifest: object) -> list[dict[str, Any]] | None:
    """What a summary lists for a manifest: its entries, or None for one file."""
    if not isinstance(manifest, TreeManifest):
        return None
    return [{"path": e.path, "kind": e.kind, "size": e.size} for e in manifest.entries]


def parse_any(data: bytes) -> dict[str, Any]:
    """The JSON object of a manifest, any version (`ManifestError` if it is none)."""
    try:
        doc = json.loads(data.decode("utf-8"))
    except (ValueError, RecursionError) as exc:
        raise ManifestError(f"the manifest is not JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise ManifestError("the manifest's fields are not the expected ones")
    return doc
