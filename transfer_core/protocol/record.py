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
_NONCE = struct.Struct(">IQ")
_DOMAIN_DATA = 0
_DOMAIN_MANIFEST = 1

__all__ = ["RecordCipher", "RecordHeader", "open_manifest_record"]


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

    def _length(self, index: int) -> int:
        return self._chunk if index < self._last else self._last_length

    @property
    def key_check(self) -> bytes:
        """The value a receiver compares before trying to open the manifest."""
        return key_check(self._key)

    # --- sealing ----------------------------------------------------------------

    def seal(self, index: int, plaintext: bytes | memoryview) -> bytes:
        """Seal data chunk `index` into one record (hot path: no objects beyond the output)."""
        length = len(plaintext)
        if not 0 <= index <= self._last or length != self._length(index):
            raise ValueError(f"chunk {index} must exist and be {self.layout.length(index)} bytes")
        flags = FLAG_LAST if index == self._last else 0
        header = HEADER.pack(VERSION, flags, 0, self.transfer_id, index, self.count, length)
        return header + self._encrypt(_NONCE.pack(_DOMAIN_DATA, index), plaintext, header)

    def seal_manifest(self, plaintext: bytes) -> bytes:
        """Seal the manifest: flags manifest|last, index 0, count 1, key check in front."""
        if len(plaintext) > MAX_MANIFEST_BYTES:
            raise ValueError(f"a manifest is at most {MAX_MANIFEST_BYTES} bytes")
        header = RecordHeader(self.transfer_id, 0, 1, len(plaintext), FLAG_MANIFEST | FLAG_LAST)
        aad = bytes(header) + self.key_check
        return aad + self._aead.encrypt(header.nonce(), plaintext, aad)

    # --- opening ----------------------------------------------------------------

    def open(self, record: bytes, expected_index: int | None = None) -> tuple[int, bytes]:
        """Verify a data record and return `(index, plaintext)`; raise a `RecordError` if not.

        `expected_index` is given where the position is known (an S3 object's offset);
        an authentic record standing elsewhere is then `MisplacedRecordError`.
        """
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
    """Verify a manifest record and return its header and plaintext (the manifest JSON)."""
    header = RecordHeader.parse(record)
    if not header.is_manifest:
        raise MalformedRecordError("expected the manifest record first")
    if header.index != 0 or header.count != 1 or not header.is_last:
        raise TamperedRecordError("the manifest header is not well formed")
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
        plaintext = AESGCM(rec_key).decrypt(header.nonce(), record[start:], record[:start])
    except InvalidTag:
        raise TamperedRecordError("the manifest failed authentication: it was altered") from None
    return header, plaintext
