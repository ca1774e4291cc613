"""The manifest: what is being sent, sealed as the first record of a transfer."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime

from ..errors import ManifestError, RecordSizeError
from .layout import Chunked
from .record import RecordCipher, open_manifest_records
from .tree import TREE_MANIFEST_VERSION, TreeManifest, parse_any

MANIFEST_VERSION = 1
MAX_NAME_BYTES = 255
_SHA256_HEX = re.compile(r"[0-9a-f]{64}")
_CREATED = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z")
_FIELDS = {"v", "name", "size", "media_type", "record_size", "chunk_count", "sha256", "created"}
_NOT_IN_NAME = re.compile(r"[/\\\x00-\x1f\x7f-\x9f]")
"""Path separators and control characters (C0, DEL, C1): never in a manifest's name."""
_SURROGATE = re.compile(r"[\ud800-\udfff]")
FALLBACK_NAME = "file"

__all__ = ["AnyManifest", "Manifest", "manifest_name", "name_problem", "open_manifest",
           "parse_manifest", "seal_manifest"]


def name_problem(name: str) -> str | None:
    """Why a receiver must refuse `name` as a manifest's file name, or None (protocol.md §4)."""
    if _SURROGATE.search(name):
        return "the file name is not valid Unicode"
    size = len(name.encode())
    if not 1 <= size <= MAX_NAME_BYTES:
        return f"the file name is {size} bytes; it must be 1 to {MAX_NAME_BYTES}"
    if name in (".", ".."):
        return "the file name is '.' or '..'"
    if _NOT_IN_NAME.search(name):
        return "the file name holds a path separator or a control character"
    return None


def manifest_name(name: str) -> str:
    """The sender's side of `name_problem`: any local name made one a receiver accepts.

    Its last path component, without control characters (undecodable bytes of a
    POSIX name become U+FFFD), cut to 255 UTF-8 bytes on a character boundary.
    """
    base = re.split(r"[/\\]", _SURROGATE.sub("\ufffd", name))[-1]
    base = _NOT_IN_NAME.sub("", base)
    base = base.encode()[:MAX_NAME_BYTES].decode("utf-8", "ignore")
    return FALLBACK_NAME if base in ("", ".", "..") else base


def utc_now() -> str:
    """The manifest's timestamp format: RFC 3339, UTC, whole seconds."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class Manifest(Chunked):
    """What the receiver needs to know before the first chunk; servers only see its length."""

    name: str
    """The sender's file name (the receiver sanitises it before use)."""
    size: int
    """File size in bytes."""
    media_type: str
    """MIME type, `application/octet-stream` when unknown."""
    record_size: int
    """Bytes of one full record; fixed for the whole transfer, whatever carries it."""
    sha256: str
    """Hex SHA-256 of the whole file, checked before the file gets its final name."""
    created: str
    """RFC 3339 UTC time the sender made the manifest."""

    @property
    def identity(self) -> tuple[str, int, int]:
        """Same identity, same bytes: a restarted sender's new transfer id is adopted."""
        return self.sha256, self.size, self.record_size

    def to_json(self) -> bytes:
        """Canonical JSON: sorted keys, no spaces, UTF-8 (the test vectors depend on it)."""
        doc = {
            "v": MANIFEST_VERSION,
            "name": self.name,
            "size": self.size,
            "media_type": self.media_type,
            "record_size": self.record_size,
            "chunk_count": self.chunk_count,
            "sha256": self.sha256,
            "created": self.created,
        }
        return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()

    @classmethod
    def from_json(cls, data: bytes) -> Manifest:
        """Parse and validate; a `ManifestError` says which field is wrong.

        The bytes must be the canonical form (`to_json` of what they say), so two
        implementations never read one manifest two ways (duplicate keys, escapes).
        """
        try:
            doc = json.loads(data.decode("utf-8"))
        except (ValueError, RecursionError) as exc:  # bad UTF-8 or JSON, or nested too deep
            raise ManifestError(f"the manifest is not JSON: {exc}") from None
        if not isinstance(doc, dict) or set(doc) != _FIELDS:
            raise ManifestError("the manifest's fields are not the expected ones")
        if doc["v"] != MANIFEST_VERSION:
            raise ManifestError(f"manifest version {doc['v']!r} is not supported")
        for field_name, kind in (
            ("name", str), ("media_type", str), ("sha256", str), ("created", str),
            ("size", int), ("record_size", int), ("chunk_count", int),
        ):
            if not isinstance(doc[field_name], kind) or isinstance(doc[field_name], bool):
                raise ManifestError(f"manifest field {field_name!r} has the wrong type")
        if (problem := name_problem(doc["name"])) is not None:
            raise ManifestError(problem)
        if any(_SURROGATE.search(doc[f]) for f in ("media_type", "sha256", "created")):
            raise ManifestError("a manifest field is not valid Unicode")
        if not _SHA256_HEX.fullmatch(doc["sha256"]):
            raise ManifestError("the manifest's sha256 is not 64 hex characters")
        if not _CREATED.fullmatch(doc["created"]):
            raise ManifestError("the manifest's created time is not YYYY-MM-DDThh:mm:ssZ")
        try:
            manifest = cls(
                name=doc["name"], size=doc["size"], media_type=doc["media_type"],
                record_size=doc["record_size"], sha256=doc["sha256"], created=doc["created"],
            )
            count = manifest.chunk_count
        except (RecordSizeError, ValueError) as exc:
            raise ManifestError(f"the manifest's sizes are invalid: {exc}") from None
        if count != doc["chunk_count"]:
            raise ManifestError("the manifest's chunk count does not follow from its sizes")
        if manifest.to_json() != data:
            raise ManifestError("the manifest is not in canonical form (sorted keys, no spaces)")
        return manifest


AnyManifest = Manifest | TreeManifest
"""One file (version 1) or many files and folders (version 2, revision 2.1)."""


def parse_manifest(data: bytes) -> AnyManifest:
    """A manifest of either version from its JSON; `ManifestError` if it is neither."""
    doc = parse_any(data)
    if doc.get("v") == TREE_MANIFEST_VERSION and "entries" in doc:
        return TreeManifest.from_doc(doc, data)
    return Manifest.from_json(data)


def seal_manifest(file_key: bytes, transfer_id: bytes, manifest: AnyManifest) -> bytes:
    """The manifest as the transfer's first record (or records, for a long list)."""
    return RecordCipher(file_key, transfer_id, manifest.layout).seal_manifest(manifest.to_json())


def open_manifest(file_key: bytes, record: bytes) -> tuple[AnyManifest, RecordCipher]:
    """Verify the manifest record(s); return the manifest and the cipher for the
    transfer's data records."""
    header, plaintext = open_manifest_records(file_key, record)
    manifest = parse_manifest(plaintext)
    return manifest, RecordCipher(file_key, header.transfer_id, manifest.layout)
