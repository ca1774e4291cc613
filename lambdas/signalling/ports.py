"""The two ports of the signalling domain: state (Repository) and delivery (Gateway)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

from transfer_core.storage.presign import StoredObject

from .model import Connection, Member


class GoneError(Exception):
    """The target connection no longer exists at the gateway (HTTP 410)."""

    def __init__(self, connection_id: str) -> None:
        self.connection_id = connection_id
        super().__init__(f"connection {connection_id} is gone")


class SlotTaken(Exception):
    """The slot is held by a live connection with another (or no) reconnect token."""


class Repository(Protocol):
    """Short-lived signalling state.

    One implementation talks to DynamoDB (`dynamo.DynamoRepository`), one keeps
    dicts (`memory.InMemoryRepository`); the service cannot tell them apart.
    Every method is a single round trip to the store except `claim_slot`
    (one transaction). Expired items (TTL in the past) are treated as absent
    by every read, because DynamoDB deletes them only eventually.
    """

    def daily_salt(self, day: str, candidate: bytes, expires_at: int) -> bytes:
        """The salt for `day`: store `candidate` if none exists yet, return the stored one."""
        ...

    def count_connect(self, client_hash: str, window: int, expires_at: int) -> int:
        """Add one connect for `client_hash` in minute `window`; return the new count."""
        ...

    def claim_slot(self, connection: Connection, token_hash: str | None, now: int) -> str | None:
        """Write the slot and the connection item atomically.

        The slot is taken if it is free, expired, or held with the same
        `token_hash`. Return the id of the connection it was taken back from
        (reconnect), or None. Raise `SlotTaken` otherwise.
        """
        ...

    def touch(self, connection_id: str, window: int, now: int) -> tuple[Connection, int] | None:
        """Count one message in minute `window` for the connection; return it and the count.

        None when the connection item does not exist (or has expired).
        """
        ...

    def members(self, room_id: str, now: int) -> list[Member]:
        """The live slot holders of a room (strongly consistent read)."""
        ...

    def delete_connection(self, connection_id: str) -> Connection | None:
        """Delete the connection item; return what it held, or None if absent."""
        ...

    def release_slot(self, room_id: str, slot: str, connection_id: str) -> bool:
        """Delete the slot only if `connection_id` holds it; True when it did."""
        ...


class Gateway(Protocol):
    """Delivery to WebSocket connections (API Gateway's `@connections` API)."""

    def send(self, connection_id: str, data: bytes) -> None:
        """Post `data` to the connection; raise `GoneError` if it no longer exists."""
        ...


class Storage(Protocol):
    """Presigned access to the fallback bucket (`transfer_core.storage.presign.S3Presigner`).

    The service builds every key from the caller's own room id; the port only
    presigns and keeps multipart books. `start_upload`, `part_urls` and
    `complete` raise `NoSuchUploadError` / `MissingPartsError` from
    `transfer_core.storage.presign`; an in-memory fake lives in `memory.py`.
    """

    def url_expiry(self) -> int:
        """Epoch seconds at which URLs presigned now stop working."""
        ...

    def put_url(self, key: str) -> str:
        """A single-PUT URL."""
        ...

    def get_url(self, key: str) -> str:
        """A GET URL."""
        ...

    def start_upload(self, key: str) -> tuple[str, list[int]]:
        """The unfinished multipart upload of `key` and its uploaded part numbers, or a new one."""
        ...

    def part_urls(self, key: str, upload_id: str, parts: Iterable[int]) -> list[tuple[int, str]]:
        """UploadPart URLs."""
        ...

    def complete(self, key: str, upload_id: str, parts: int) -> int:
        """Complete with parts `1…parts`; return the object's size."""
        ...

    def objects(self, prefix: str) -> list[StoredObject]:
        """The complete objects under `prefix`."""
        ...
