"""Sealed records: a 32-byte header, authenticated as AEAD associated data, then AES-256-GCM.

Layout (big-endian), see docs/protocol.md:

    0   u8    version (1)
    1   u8    flags: bit 0 last, bit 1 manifest
    2   u16   reserved, zero
    4   16s   transfer id
    20  u32   index
    24  u32   count
    28  u32   payload length (plaintext bytes)
    32  ...   ciphertext || 16-byte tag             (data record)
    32  16s   key check, then ciphertext || tag     (manifest record)
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from ..errors import (
    ForeignRecordError,
    MalformedRecordError,
    MisplacedRecordError,
    TamperedRecordError,
    WrongKeyError,
)
from .keys import KEY_CHECK_BYTES, TRANSFER_ID_BYTES, key_check, record_key
from .layout import HEADER_BYTES, OVERHEAD, ChunkLayout

VERSION = 1
FLAG_LAST = 0x01
FLAG_MANIFEST = 0x02
_KNOWN_FLAGS = FLAG_LAST | FLAG_MANIFEST
HEADER = struct.Struct(">BBH16sIII")
assert HEADER.size == HEADER_BYTES
MAX_MANIFEST_BYTES = 4096
"""Plaintext bytes in one manifest record: a record always fits a 16 KiB message."""
MAX_MANIFEST_RECORDS = 1024
"""Manifest records in one transfer (revision 2.1): a list of entries up to 4 MiB of JSON
(about 20,000 entries with long paths), bounded so a receiver's memory is too."""
_NONCE = struct.Struct(">IQ")
"""Domain, then index. In the data domain (0) that is `index.to_bytes(12)`, which the hot
path uses because it is cheaper than a pack."""
_INDEX = struct.Struct(">I")
_INDEX_AT = 20
"""Where a header's index lies (see the layout above)."""
_DOMAIN_DATA = 0
assert _NONCE.pack(_DOMAIN_DATA, 2**32 - 1) == (2**32 - 1).to_bytes(12)
_DOMAIN_MANIFEST = 1

__all__ = ["RecordCipher", "RecordHeader", "SealedRecord", "manifest_record_count",
           "open_manifest_record", "open_manifest_records", "split_manifest_records"]


class SealedRecord:
    """A sealed data record as its two pieces: the header, and the ciphertext with its tag.

    Kept apart because every way a record leaves copies it once anyway: the data
    channel cuts it into SCTP packets (one slice each) and S3 joins a part's records
    into one body. Joining header and ciphertext first would copy every byte once more.
    `bytes(record)` is the record on the wire; `record[a:b]` any part of it, one copy.
    """

    __slots__ = ("header", "body")

    def __init__(self, header: bytes, body: bytes) -> None:
        self.header = header
        self.body = body

    def __len__(self) -> int:
        return HEADER_BYTES + len(self.body)

    def __bytes__(self) -> bytes:
        return self.header + self.body

    def __getitem__(self, span: slice) -> bytes:
        start, stop, step = span.indices(HEADER_BYTES + len(self.body))
        if step != 1:
            raise ValueError("a sealed record is read in contiguous spans")
        stop = max(start, stop)  # an empty span stays empty, never a slice from the end
        if start >= HEADER_BYTES:
            return self.body[start - HEADER_BYTES:stop - HEADER_BYTES]
        # the span starts in the header: one copy of it, the body read through a view
        return self.header[start:stop] + memoryview(self.body)[:max(0, stop - HEADER_BYTES)]

    def __repr__(self) -> str:
        return f"SealedRecord({len(self)} bytes)"


@dataclass(frozen=True)
class RecordHeader:
    """The authenticated header in front of every record."""

    transfer_id: bytes
    """16 random bytes chosen by the sender for this transfer."""
    index: int
    """Position of the chunk, 0-based (0 for the manifest)."""
    count: int
    """Number of data records in the transfer (1 for the manifest)."""
    length: int
    """Plaintext bytes in this record."""
    flags: int = 0
    """`FLAG_LAST`, `FLAG_MANIFEST`."""
    version: int = VERSION
    """Protocol version."""

    @property
    def is_last(self) -> bool:
        return bool(self.flags & FLAG_LAST)

    @property
    def is_manifest(self) -> bool:
        return bool(self.flags & FLAG_MANIFEST)

    def __bytes__(self) -> bytes:
        return HEADER.pack(
            self.version, self.flags, 0, self.transfer_id, self.index, self.count, self.length
        )

    @classmethod
    def parse(cls, record: bytes | memoryview) -> RecordHeader:
        """Read the header of a record; structural checks only (authenticity comes later)."""
        if len(record) < OVERHEAD:
            raise MalformedRecordError(f"a record is at least {OVERHEAD} bytes, got {len(record)}")
        version, flags, reserved, tid, index, count, length = HEADER.unpack_from(record)
        if version != VERSION:
            raise MalformedRecordError(f"record version {version} is not supported")
        if reserved or flags & ~_KNOWN_FLAGS:
            raise MalformedRecordError("reserved header bits are set")
        return cls(tid, index, count, length, flags, version)

    def nonce(self) -> bytes:
        """Deterministic: unique per (record key, domain, index). See docs/protocol.md."""
        domain = _DOMAIN_MANIFEST if self.is_manifest else _DOMAIN_DATA
        return _NONCE.pack(domain, self.index)


class RecordCipher:
    """Seals and opens the records of one transfer (one transfer id, one record key)."""

    def __init__(self, file_key: bytes, transfer_id: bytes, layout: ChunkLayout) -> None:
        if len(transfer_id) != TRANSFER_ID_BYTES:
            raise ValueError("a transfer id is 16 bytes")
        self.transfer_id = transfer_id
        self.layout = layout
        self.count = layout.count
        self._key = record_key(file_key, transfer_id)
        self._aead = AESGCM(self._key)
        self._encrypt = self._aead.encrypt
        self._decrypt = self._aead.decrypt
        # per-record checks read these plain ints, not the layout's computed properties
        self._last = layout.count - 1
        self._chunk = layout.chunk_size
        self._last_length = layout.length(self._last)
        self._full_record = OVERHEAD + self._chunk
        self._pack = HEADER.pack

    def _length(self, index: int) -> int:
        return self._chunk if index < self._last else self._last_length

    @property
    def key_check(self) -> bytes:
        """The value a receiver compares before trying to open the manifest."""
        return key_check(self._key)

    # --- sealing ----------------------------------------------------------------

    def seal(self, index: int, plaintext: bytes | memoryview) -> bytes:
        """Seal data chunk `index` into one record, as one `bytes`."""
        return bytes(self.sealed(index, plaintext))

    def sealed(self, index: int, plaintext: bytes | memoryview) -> SealedRecord:
        """Seal data chunk `index` into one record, header and ciphertext apart (the
        hot path: no join, no objects beyond the output)."""
        if 0 <= index < self._last and len(plaintext) == self._chunk:
            # every record but the last: flags 0, full length, no method calls beyond the
            # header and the AEAD
            header = self._pack(VERSION, 0, 0, self.transfer_id, index, self.count, self._chunk)
            return SealedRecord(header, self._encrypt(index.to_bytes(12), plaintext, header))
        return self._seal_checked(index, plaintext)

    def _seal_checked(self, index: int, plaintext: bytes | memoryview) -> SealedRecord:
        length = len(plaintext)
        if not 0 <= index <= self._last:
            raise ValueError(f"chunk {index} must exist: this transfer has 0..{self._last}")
        if length != self._length(index):
            raise ValueError(f"chunk {index} must exist and be {self._length(index)} bytes")
        flags = FLAG_LAST if index == self._last else 0
        header = HEADER.pack(VERSION, flags, 0, self.transfer_id, index, self.count, length)
        return SealedRecord(header, self._encrypt(_NONCE.pack(_DOMAIN_DATA, index), plaintext,
                                                  header))

    def seal_manifest(self, plaintext: bytes) -> bytes:
        """Seal the manifest: flags manifest|last, index 0, count 1, key check in front.

        A manifest longer than `MAX_MANIFEST_BYTES` (a list of entries, revision 2.1) is
        cut into pieces of exactly that size (the last shorter), sealed as manifest
        records `0 … m-1` of count `m`, the last flag on the last, laid end to end.
        """
        pieces = [plaintext[i:i + MAX_MANIFEST_BYTES]
                  for i in range(0, len(plaintext), MAX_MANIFEST_BYTES)] or [b""]
        if len(pieces) > MAX_MANIFEST_RECORDS:
            raise ValueError(f"a manifest is at most {MAX_MANIFEST_RECORDS} records")
        count = len(pieces)
        out = []
        for index, piece in enumerate(pieces):
            flags = FLAG_MANIFEST | (FLAG_LAST if index == count - 1 else 0)
            header = RecordHeader(self.transfer_id, index, count, len(piece), flags)
            aad = bytes(header) + self.key_check
            out.append(aad + self._aead.encrypt(header.nonce(), piece, aad))
        return b"".join(out)

    # --- opening ----------------------------------------------------------------

    def open(self, record: bytes, expected_index: int | None = None) -> tuple[int, bytes]:
        """Verify a data record and return `(index, plaintext)`; raise a `RecordError` if not.

        `expected_index` is given where the position is known (an S3 object's offset);
        an authentic record standing elsewhere is then `MisplacedRecordError`.
        """
        if len(record) == self._full_record:
            # Every record but the last, well formed and in its place, carries exactly the
            # header this cipher seals for its index: one comparison stands for the field
            # checks. Anything else (the last record, any fault) takes the checked path,
            # which names the fault.
            index = _INDEX.unpack_from(record, _INDEX_AT)[0]
            if index < self._last and (expected_index is None or index == expected_index):
                header = self._pack(VERSION, 0, 0, self.transfer_id, index, self.count,
                                    self._chunk)
                if record[:HEADER_BYTES] == header:
                    try:
                        return index, self._decrypt(
                            index.to_bytes(12), memoryview(record)[HEADER_BYTES:], header)
                    except InvalidTag:
                        pass  # the checked path tries once more and names the fault
        return self._open_checked(record, expected_index)

    def _open_checked(self, record: bytes, expected_index: int | None) -> tuple[int, bytes]:
        if len(record) < OVERHEAD:
            raise MalformedRecordError(f"a record is at least {OVERHEAD} bytes, got {len(record)}")
        version, flags, reserved, tid, index, count, length = HEADER.unpack_from(record)
        if version != VERSION or reserved or flags & ~_KNOWN_FLAGS:
            RecordHeader.parse(record)  # raises the precise MalformedRecordError
        if flags & FLAG_MANIFEST:
            raise MalformedRecordError("a manifest record stands where a data record belongs")
        if tid != self.transfer_id:
            raise ForeignRecordError("this record belongs to another transfer")
        if expected_index is not None and index != expected_index:
            raise MisplacedRecordError(
                f"record {index} found where record {expected_index} belongs"
            )
        if count != self.count or index > self._last:
            raise TamperedRecordError("the record's index or count does not fit this transfer")
        if bool(flags & FLAG_LAST) != (index == self._last):
            raise TamperedRecordError("the last-record flag is out of place")
        if length != self._length(index):
            raise TamperedRecordError("the record's payload length does not fit its index")
        if len(record) != OVERHEAD + length:
            raise TamperedRecordError("the record was cut short or padded")
        view = memoryview(record)
        try:
            nonce = _NONCE.pack(_DOMAIN_DATA, index)
            plaintext = self._decrypt(nonce, view[HEADER_BYTES:], view[:HEADER_BYTES])
        except InvalidTag:
            raise TamperedRecordError(
                f"record {index} failed authentication: it was altered"
            ) from None
        return index, plaintext


def open_manifest_record(file_key: bytes, record: bytes) -> tuple[RecordHeader, bytes]:
    """Verify a one-record manifest and return its header and plaintext (the manifest JSON)."""
    header = RecordHeader.parse(record)
    if not header.is_manifest:
        raise MalformedRecordError("expected the manifest record first")
    if header.index != 0 or header.count != 1 or not header.is_last:
        raise TamperedRecordError("the manifest header is not well formed")
    return header, _open_manifest_piece(file_key, header, record)


def _open_manifest_piece(file_key: bytes, header: RecordHeader, record: bytes) -> bytes:
    body = OVERHEAD + KEY_CHECK_BYTES
    if len(record) != body + header.length or header.length > MAX_MANIFEST_BYTES:
        raise TamperedRecordError("the manifest record's length does not match its header")
    rec_key = record_key(file_key, header.transfer_id)
    check = record[HEADER_BYTES : HEADER_BYTES + KEY_CHECK_BYTES]
    if check != key_check(rec_key):
        raise WrongKeyError(
            "this transfer was sealed under another key: the link is wrong or altered"
        )
    start = HEADER_BYTES + KEY_CHECK_BYTES
    try:
        return AESGCM(rec_key).decrypt(header.nonce(), record[start:], record[:start])
    except InvalidTag:
        raise TamperedRecordError("the manifest failed authentication: it was altered") from None


def manifest_record_count(record: bytes | memoryview) -> int:
    """How many manifest records a transfer has, read from its first one (unverified:
    the count is authenticated when the records are opened)."""
    header = RecordHeader.parse(record)
    if not header.is_manifest:
        raise MalformedRecordError("expected the manifest record first")
    if not 1 <= header.count <= MAX_MANIFEST_RECORDS:
        raise TamperedRecordError("the manifest's record count is out of range")
    return header.count


def split_manifest_records(blob: bytes) -> list[bytes]:
    """Cut manifest records laid end to end (an S3 object, a work folder's manifest.rec)
    into records, each by its header's length (unverified: `open_manifest_records`)."""
    out, at = [], 0
    while at < len(blob):
        if len(blob) - at < OVERHEAD + KEY_CHECK_BYTES:
            raise MalformedRecordError("the manifest records end in a fragment")
        length = HEADER.unpack_from(blob, at)[6]
        if length > MAX_MANIFEST_BYTES:
            raise TamperedRecordError("the manifest record's length does not match its header")
        end = at + OVERHEAD + KEY_CHECK_BYTES + length
        out.append(blob[at:end])
        at = end
        if len(out) > MAX_MANIFEST_RECORDS:
            raise TamperedRecordError("too many manifest records")
    if not out:
        raise MalformedRecordError("no manifest record")
    return out


def open_manifest_records(file_key: bytes, blob: bytes) -> tuple[RecordHeader, bytes]:
    """Verify a transfer's manifest records laid end to end; return the first's header and
    the whole manifest plaintext (the pieces joined).

    One record is the version-2 form (`open_manifest_record`); several (revision 2.1)
    must be records `0 … m-1` of one transfer id, each `count = m`, the last flag
    exactly on the last, every piece but the last exactly `MAX_MANIFEST_BYTES`.
    """
    first = RecordHeader.parse(blob)
    if not first.is_manifest:
        raise MalformedRecordError("expected the manifest record first")
    if first.count == 1 or first.index != 0 or first.is_last:
        return open_manifest_record(file_key, blob)  # one record, checked as in version 2
    if first.count > MAX_MANIFEST_RECORDS:
        raise TamperedRecordError("the manifest's record count is out of range")
    records = split_manifest_records(blob)
    if first.count != len(records):
        raise TamperedRecordError(
            f"the manifest has {first.count} records, {len(records)} arrived"
        )
    pieces = []
    for index, record in enumerate(records):
        header = RecordHeader.parse(record)
        last = index == first.count - 1
        if not header.is_manifest or header.transfer_id != first.transfer_id:
            raise TamperedRecordError("a manifest record of another transfer, or a data record")
        if header.index != index or header.count != first.count or header.is_last != last:
            raise TamperedRecordError("the manifest records are out of order or cut short")
        if not last and header.length != MAX_MANIFEST_BYTES:
            raise TamperedRecordError("a manifest record but the last is not full")
        pieces.append(_open_manifest_piece(file_key, header, record))
    return first, b"".join(pieces)
