"""The two ports of the signalling domain: state (Repository) and delivery (Gateway)."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
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

    def __init__(self, holder: Member) -> None:
        self.holder = holder
        """Who holds it (the service may check whether that connection still exists)."""
        super().__init__(f"slot {holder.slot} is taken")


@dataclass(frozen=True, slots=True)
class ClientRecord:
    """What one write of a client address's shared record returned (docs/signalling.md §4)."""

    connects: int
    """Connect attempts from the address in this minute (the connect rate limit)."""
    connections: dict[str, int] = field(default_factory=dict)
    """Connections admitted from the address, by id, with their expiry (epoch seconds):
    open ones, and closed ones not yet found closed (the concurrent-connection cap)."""


@dataclass(frozen=True, slots=True)
class UploadPlan:
    """What a sender declared for a multipart upload; the relay presigns only that."""

    upload_id: str
    """S3's upload id: the only one the relay accepts for this room and `first`."""
    size: int
    """Bytes of the whole records object."""
    part_size: int
    """Bytes of every part but the last."""
    parts: int
    """Number of parts (exactly what `size` and `part_size` need)."""
    expires_at: int
    """Epoch seconds after which the plan is ignored (unfinished uploads are aborted)."""

    def part_bytes(self, part: int) -> int:
        """Exact size of part `part` (1-based)."""
        if part < self.parts:
            return self.part_size
        return self.size - (self.parts - 1) * self.part_size


class Repository(Protocol):
    """Short-lived signalling state.

    One implementation talks to DynamoDB (`dynamo.DynamoRepository`), one keeps
    dicts (`memory.InMemoryRepository`); the service cannot tell them apart.
    Every method is a single round trip to the store except `claim_slot`
    (one transaction). Expired items (TTL in the past) are treated as absent
    by every read, because DynamoDB deletes them only eventually.
    """

    def count_connect(
        self, client_hash: str, window: int, n: int, expires_at: int,
        admitted: Mapping[str, int] | None = None, closed: Collection[str] = (),
    ) -> ClientRecord:
        """One write of the client's record: add `n` connects in minute `window`, record
        the `admitted` connections (id -> expiry), forget the `closed` ones.

        Returns the minute's total and every connection the record now holds. The
        record lives until `expires_at`; counts of earlier minutes may be dropped.
        """
        ...

    def closed_connections(self, connection_ids: Collection[str], now: int) -> set[str]:
        """Which of these connections are closed: no connection item, or an expired one.

        Eventually consistent (a connection that just closed may still look open).
        """
        ...

    def claim_slot(
        self, connection: Connection, token_hash: str | None, now: int,
        take_over: str | None = None,
    ) -> str | None:
        """Write the slot, then the connection item.

        The slot is taken if it is free, expired, held with the same
        `token_hash`, or (with `take_over`) still held by exactly that
        connection id (one the service found dead). Return the id of the
        connection it was taken from (reconnect or take-over), or None. Raise
        `SlotTaken` (naming the holder) otherwise.
        """
        ...

    def connection(self, connection_id: str, now: int) -> Connection | None:
        """The connection item (strongly consistent read); None if absent or expired."""
        ...

    def add_frames(self, connection_id: str, window: int, n: int, now: int) -> int | None:
        """Add `n` frames to the connection's count of minute `window`; return the total.

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

    def put_upload_plan(self, room_id: str, first: int, plan: UploadPlan) -> None:
        """Keep the plan of the room's multipart upload of the records at `first`."""
        ...

    def upload_plan(self, room_id: str, first: int, now: int) -> UploadPlan | None:
        """The plan kept for the room and `first` (strongly consistent); None if none."""
        ...


class Gateway(Protocol):
    """Delivery to WebSocket connections (API Gateway's `@connections` API)."""

    def send(self, connection_id: str, data: bytes) -> None:
        """Post `data` to the connection; raise `GoneError` if it no longer exists."""
        ...

    def alive(self, connection_id: str) -> bool:
        """Whether the gateway still knows the connection (`GetConnection`)."""
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

    def put_url(self, key: str, size: int) -> str:
        """A single-PUT URL for exactly `size` bytes (a signed `Content-Length`)."""
        ...

    def get_url(self, key: str) -> str:
        """A GET URL."""
        ...

    def start_upload(self, key: str) -> tuple[str, list[int]]:
        """The unfinished multipart upload of `key` and its uploaded part numbers, or a new one."""
        ...

    def part_urls(
        self, key: str, upload_id: str, parts: Iterable[tuple[int, int]]
    ) -> list[tuple[int, str]]:
        """UploadPart URLs for `(part number, exact size)` pairs (signed `Content-Length`)."""
        ...

    def complete(self, key: str, upload_id: str, parts: int) -> int:
        """Complete with parts `1…parts`; return the object's size."""
        ...

    def objects(self, prefix: str) -> list[StoredObject]:
        """The complete objects under `prefix`."""
        ...

    def purge(self, prefix: str) -> int:
        """Delete every object and abort every unfinished upload under `prefix`; the count."""
        ...
