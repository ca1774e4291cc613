"""In-memory adapters for tests and experiments: a Repository and a recording Gateway."""

from __future__ import annotations

import itertools
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field

from transfer_core.storage.presign import MissingPartsError, NoSuchUploadError, StoredObject

from .model import Connection, Member
from .ports import ClientRecord, GoneError, SlotTaken, UploadPlan


@dataclass
class _Slot:
    connection_id: str
    role: str
    token_hash: str | None
    expires_at: int
    connected_at: int = 0


@dataclass
class InMemoryRepository:
    """Dict-backed `Repository` with the same semantics as the DynamoDB adapter."""

    connect_counts: dict[tuple[str, int], int] = field(default_factory=dict)
    client_connections: dict[str, dict[str, int]] = field(default_factory=dict)
    """Per client hash: the admitted connections recorded (id -> expiry)."""
    slots: dict[tuple[str, str], _Slot] = field(default_factory=dict)
    connections: dict[str, Connection] = field(default_factory=dict)
    message_counts: dict[tuple[str, int], int] = field(default_factory=dict)
    plans: dict[tuple[str, int], UploadPlan] = field(default_factory=dict)
    calls: int = 0
    """Store round trips made so far (what a DynamoDB adapter would pay)."""

    def count_connect(
        self, client_hash: str, window: int, n: int, expires_at: int,
        admitted: Mapping[str, int] | None = None, closed: Collection[str] = (),
    ) -> ClientRecord:
        self.calls += 1
        key = (client_hash, window)
        self.connect_counts[key] = self.connect_counts.get(key, 0) + n
        held = self.client_connections.setdefault(client_hash, {})
        held.update(admitted or {})
        for connection_id in closed:
            held.pop(connection_id, None)
        return ClientRecord(self.connect_counts[key], dict(held))

    def closed_connections(self, connection_ids: Collection[str], now: int) -> set[str]:
        self.calls += 1
        return {
            cid for cid in connection_ids
            if (conn := self.connections.get(cid)) is None or conn.expires_at < now
        }

    def claim_slot(
        self, connection: Connection, token_hash: str | None, now: int,
        take_over: str | None = None,
    ) -> str | None:
        self.calls += 1
        key = (connection.room_id, connection.slot)
        held = self.slots.get(key)
        replaced = None
        if held is not None and held.expires_at >= now:
            same_token = token_hash is not None and held.token_hash == token_hash
            if not same_token and held.connection_id != take_over:
                raise SlotTaken(
                    Member(held.connection_id, held.role, connection.slot, held.connected_at)
                )
            replaced = held.connection_id
        self.slots[key] = _Slot(
            connection.connection_id, connection.role, token_hash, connection.expires_at,
            connection.connected_at,
        )
        self.connections[connection.connection_id] = connection
        return replaced

    def connection(self, connection_id: str, now: int) -> Connection | None:
        self.calls += 1
        conn = self.connections.get(connection_id)
        if conn is None or conn.expires_at < now:
            return None
        return conn

    def add_frames(self, connection_id: str, window: int, n: int, now: int) -> int | None:
        self.calls += 1
        conn = self.connections.get(connection_id)
        if conn is None or conn.expires_at < now:
            return None
        key = (connection_id, window)
        self.message_counts[key] = self.message_counts.get(key, 0) + n
        return self.message_counts[key]

    def members(self, room_id: str, now: int) -> list[Member]:
        self.calls += 1
        return [
            Member(slot.connection_id, slot.role, name, slot.connected_at)
            for (room, name), slot in sorted(self.slots.items())
            if room == room_id and slot.expires_at >= now
        ]

    def delete_connection(self, connection_id: str) -> Connection | None:
        self.calls += 1
        return self.connections.pop(connection_id, None)

    def release_slot(self, room_id: str, slot: str, connection_id: str) -> bool:
        self.calls += 1
        held = self.slots.get((room_id, slot))
        if held is None or held.connection_id != connection_id:
            return False
        del self.slots[(room_id, slot)]
        return True


    def put_upload_plan(self, room_id: str, first: int, plan: UploadPlan) -> None:
        self.calls += 1
        self.plans[(room_id, first)] = plan

    def upload_plan(self, room_id: str, first: int, now: int) -> UploadPlan | None:
        self.calls += 1
        plan = self.plans.get((room_id, first))
        return plan if plan is not None and plan.expires_at >= now else None


@dataclass
class RecordingGateway:
    """`Gateway` that records what it would post; ids in `gone` raise `GoneError`."""

    sent: list[tuple[str, bytes]] = field(default_factory=list)
    gone: set[str] = field(default_factory=set)
    asked: list[str] = field(default_factory=list)
    """Connection ids whose liveness was checked (`GetConnection`)."""

    def send(self, connection_id: str, data: bytes) -> None:
        if connection_id in self.gone:
            raise GoneError(connection_id)
        self.sent.append((connection_id, data))

    def alive(self, connection_id: str) -> bool:
        self.asked.append(connection_id)
        return connection_id not in self.gone

    def to(self, connection_id: str) -> list[bytes]:
        """Everything posted to one connection, in order."""
        return [data for cid, data in self.sent if cid == connection_id]


@dataclass
class InMemoryStorage:
    """`Storage` fake: URLs are `fake://<verb>/<key>…`; objects and uploads are dicts."""

    now: float = 0.0
    """What `url_expiry` and new objects' times are computed from (tests move it)."""
    url_ttl: int = 600
    objects_by_key: dict[str, StoredObject] = field(default_factory=dict)
    uploads: dict[str, tuple[str, dict[int, int]]] = field(default_factory=dict)
    """upload id -> (key, {part number: size})."""
    _ids: itertools.count[int] = field(default_factory=itertools.count)

    def url_expiry(self) -> int:
        return int(self.now) + self.url_ttl

    def put_url(self, key: str, size: int) -> str:
        return f"fake://put/{key}?length={size}"

    def get_url(self, key: str) -> str:
        return f"fake://get/{key}"

    def start_upload(self, key: str) -> tuple[str, list[int]]:
        for upload_id, (held_key, parts) in self.uploads.items():
            if held_key == key:
                return upload_id, sorted(parts)
        upload_id = f"upload-{next(self._ids)}"
        self.uploads[upload_id] = (key, {})
        return upload_id, []

    def part_urls(
        self, key: str, upload_id: str, parts: Iterable[tuple[int, int]]
    ) -> list[tuple[int, str]]:
        if self.uploads.get(upload_id, ("",))[0] != key:
            raise NoSuchUploadError(upload_id)
        return [(n, f"fake://part/{key}?uploadId={upload_id}&partNumber={n}&length={size}")
                for n, size in sorted(dict(parts).items())]

    def complete(self, key: str, upload_id: str, parts: int) -> int:
        held_key, held = self.uploads.get(upload_id, ("", {}))
        if held_key != key:
            raise NoSuchUploadError(upload_id)
        for n in range(1, parts + 1):
            if n not in held:
                raise MissingPartsError(n)
        size = sum(held[n] for n in range(1, parts + 1))
        del self.uploads[upload_id]
        self.store(key, size)
        return size

    def objects(self, prefix: str) -> list[StoredObject]:
        return sorted((o for k, o in self.objects_by_key.items() if k.startswith(prefix)),
                      key=lambda o: o.key)

    def purge(self, prefix: str) -> int:
        gone = [k for k in self.objects_by_key if k.startswith(prefix)]
        aborted = [u for u, (k, _) in self.uploads.items() if k.startswith(prefix)]
        for key in gone:
            del self.objects_by_key[key]
        for upload_id in aborted:
            del self.uploads[upload_id]
        return len(gone) + len(aborted)

    # -- what a client's PUTs would do --------------------------------------

    def store(self, key: str, size: int, modified: float | None = None) -> None:
        """An object as a completed PUT would leave it."""
        when = self.now if modified is None else modified
        self.objects_by_key[key] = StoredObject(key, size, when)

    def put_part(self, upload_id: str, part: int, size: int) -> None:
        """A part as a presigned UploadPart would leave it."""
        self.uploads[upload_id][1][part] = size
