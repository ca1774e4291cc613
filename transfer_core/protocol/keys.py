"""The key schedule: one link secret, independent keys for each purpose (HKDF-SHA256)."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

from cryptography.hazmat.primitives.hashes import SHA256
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from .room import ROOM_KEY_BYTES, room_id_for
from .secret import TransferSecret

SALT = b"sgraph-send/v1"
LABEL_ROOM_KEY = b"sgraph-send/v2/room-key"
LABEL_FILE_KEY = b"sgraph-send/v1/file-key"
LABEL_SIGNAL_KEY = b"sgraph-send/v1/signal-key"
LABEL_RECORD_KEY = b"sgraph-send/v1/record-key"
LABEL_KEY_CHECK = b"sgraph-send/v1/key-check"
KEY_CHECK_BYTES = 16
TRANSFER_ID_BYTES = 16

__all__ = ["TransferKeys", "derive_keys", "key_check", "record_key"]


def _hkdf(ikm: bytes, salt: bytes, info: bytes, length: int) -> bytes:
    return HKDF(algorithm=SHA256(), length=length, salt=salt, info=info).derive(ikm)


@dataclass(frozen=True)
class TransferKeys:
    """Everything derived from the link secret."""

    room_id: str
    """32 hex characters, SHA-256 of the room key: the only value a server keeps."""
    room_key: bytes
    """32 bytes; presented at connect to join the room (the link is the capability)."""
    file_key: bytes
    """32 bytes; the root of each transfer's record key."""
    signal_key: bytes
    """32 bytes; authenticates signalling payloads (offers, answers, candidates)."""

    def __repr__(self) -> str:  # keys never end up in a log by accident
        return f"TransferKeys(room_id={self.room_id!r}, room_key=…, file_key=…, signal_key=…)"


def derive_keys(secret: TransferSecret) -> TransferKeys:
    """Derive room key (and its hash, the room id), file key and signalling key.

    Each key has its own HKDF label; the room id is a hash of the room key, so a
    relay can check a presented room key but never compute one from what it keeps.
    """
    room_key = _hkdf(secret.raw, SALT, LABEL_ROOM_KEY, ROOM_KEY_BYTES)
    return TransferKeys(
        room_id=room_id_for(room_key),
        room_key=room_key,
        file_key=_hkdf(secret.raw, SALT, LABEL_FILE_KEY, 32),
        signal_key=_hkdf(secret.raw, SALT, LABEL_SIGNAL_KEY, 32),
    )


def record_key(file_key: bytes, transfer_id: bytes) -> bytes:
    """The AES-256-GCM key of one transfer: fresh per transfer id, so nonces never collide."""
    return _hkdf(file_key, transfer_id, LABEL_RECORD_KEY, 32)


def key_check(rec_key: bytes) -> bytes:
    """16 bytes that tell a wrong key from a tampered record (AES-GCM is not key-committing)."""
    return hmac.new(rec_key, LABEL_KEY_CHECK, hashlib.sha256).digest()[:KEY_CHECK_BYTES]
