"""The signalling domain service: admission, relaying and departure.

Plain Python: it sees a `Repository` and a `Gateway` and nothing of boto3,
Powertools or API Gateway's event shapes. Each public method is one client
request; client mistakes raise a `SignallingError` subclass, which the
handler turns into a response (connect) or an `error` message (relay).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from transfer_core.protocol.room import RoomKeyError, parse_offer, room_id_for
from transfer_core.storage.layout import (
    MAX_MANIFEST_OBJECT_BYTES,
    MAX_RECORD_OBJECTS,
    MAX_SINGLE_PUT_BYTES,
    manifest_key,
    records_key,
    room_prefix,
    split_records_key,
)
from transfer_core.storage.presign import MissingPartsError, NoSuchUploadError, ranges_of

from . import model
from .errors import (
    BadRequest,
    Expired,
    Forbidden,
    InvalidField,
    MissingField,
    NoPeer,
    NotInRoom,
    NoUpload,
    PayloadTooLarge,
    RateLimited,
    RoomFull,
    SignallingError,
    StorageUnavailable,
    TooLarge,
    TooManyConnections,
    UploadIncomplete,
)
from .live import LiveConnections
from .model import ROLES, TOKEN_RE, Connection, Member
from .ports import Gateway, GoneError, Repository, SlotTaken, Storage, UploadPlan
from .settings import Settings
from .transfers import TransferControl, TransferRecord
from .turn import turn_credentials

logger = logging.getLogger(__name__)

RATE_WINDOW_SECONDS = 60
#: Default of `Settings.admission_grace_seconds`: a connection this young may still be
#: finishing its WebSocket upgrade (API Gateway answers a post to it with 410 although
#: it is about to be open). It is never removed on a 410, nor taken over, until older.
ADMISSION_GRACE_SECONDS = 30  # keep equal to Settings.admission_grace_seconds
#: Most frames (or connects) a Lambda instance counts before it adds them to the
#: shared DynamoDB counter (docs/signalling.md §4); a small limit lowers it.
COUNT_BATCH = 16
_SALT_LABEL = b"sgraph-send/client-hash-salt/"
#: An upload plan outlives the bucket's abort of unfinished uploads (one day).
UPLOAD_PLAN_SECONDS = 2 * 86400
#: Connections whose item a relay instance remembers (their room never changes).
KNOWN_CONNECTIONS = 10_000


class LocalCounters:
    """Per-minute counts kept in the Lambda instance, added to the store in batches.

    Every frame and every connect is counted here at once; the shared counter in
    DynamoDB is written only once per batch, so one message costs no write. A
    count is exact within an instance; across instances it can lag by under
    one batch per instance (docs/signalling.md §4).
    """

    def __init__(self) -> None:
        self._counts: dict[tuple[str, int], list[int]] = {}
        self._window = 0

    def add(self, key: str, window: int, limit: int, flush: Callable[[int], int | None]
            ) -> int | None:
        """Count one; return the best known total this minute (None: `flush` found no item)."""
        if window != self._window:
            self._counts = {k: v for k, v in self._counts.items() if k[1] >= window}
            self._window = window
        entry = self._counts.setdefault((key, window), [0, 0, 0])  # local, flushed, shared
        entry[0] += 1
        batch = max(1, min(COUNT_BATCH, limit // 8))
        if entry[0] - entry[1] >= batch:
            return self.flush(key, window, flush)
        return max(entry[0], entry[2] + entry[0] - entry[1])

    def flush(self, key: str, window: int, flush: Callable[[int], int | None]) -> int | None:
        """Add what is not yet shared now, even below a batch; return the best known total."""
        entry = self._counts.setdefault((key, window), [0, 0, 0])
        shared = flush(entry[0] - entry[1])
        if shared is None:
            return None
        entry[1], entry[2] = entry[0], shared
        return max(entry[0], entry[2])


@dataclass(frozen=True, slots=True)
class Outcome:
    """What a relay request did, for metrics: messages delivered to peers."""

    delivered: int = 0
    """Messages posted to other peers (not counting replies to the caller)."""
    gone: int = 0
    """Targets found gone and removed."""


def token_hash(token: str) -> str:
    """SHA-256 of the reconnect token, hex; the only form the server stores."""
    return hashlib.sha256(token.encode()).hexdigest()


class SignallingService:
    """Rooms of one sender and up to `max_receivers` receivers, and the relay between them."""

    def __init__(
        self,
        repo: Repository,
        settings: Settings,
        gateway: Gateway | None = None,
        *,
        clock: Callable[[], float] = time.time,
        random_bytes: Callable[[int], bytes] = os.urandom,
        turn_secret: Callable[[], str | None] | None = None,
        storage: Storage | None = None,
        counters: LocalCounters | None = None,
        hash_secret: bytes | None = None,
        transfers: TransferControl | None = None,
        live: LiveConnections | None = None,
        known: dict[str, Connection] | None = None,
    ) -> None:
        self._repo = repo
        self._settings = settings
        self._gateway = gateway
        self._clock = clock
        self._random_bytes = random_bytes
        self._turn_secret = turn_secret or (lambda: settings.turn_secret)
        self._storage = storage
        self._counters = counters if counters is not None else LocalCounters()
        self._live = live if live is not None else LiveConnections()
        # Per instance: the items of connections this instance has read (room, role,
        # slot never change), so a later frame proves membership with the room Query
        # alone, which `hello`/`signal` need anyway: one read a message, not two.
        self._known = known if known is not None else {}
        self._members: dict[str, list[Member]] = {}
        # Without a configured secret (tests), a per-instance random one: hashes are
        # then only comparable within one instance, which is all a test needs.
        self._hash_secret = hash_secret or (
            settings.client_hash_secret.encode() if settings.client_hash_secret
            else random_bytes(32)
        )
        self._admitted: dict[str, Connection] = {}
        self.transfers = transfers
        """Limits, expiry and revocation of stored transfers (transfers.py), if any."""

    # -- admission -------------------------------------------------------

    def connect(
        self,
        connection_id: str,
        offered: str | None,
        role: str | None,
        token: str | None,
        source_ip: str,
    ) -> tuple[Connection, str | None]:
        """Admit a connection into a slot; return it and the id it replaced (reconnect).

        `offered` is the `Sec-WebSocket-Protocol` header: protocol version and
        room key (transfer_core.protocol.room). The room is the hash of the key;
        the key itself is neither stored nor logged. Every attempt counts toward
        the connect limit, malformed ones included.
        """
        now = int(self._clock())
        client = self._candidate(connection_id, source_ip, now)
        try:
            self._count_connect(client, now)
            try:
                room_id = room_id_for(parse_offer(offered))
            except RoomKeyError as exc:
                raise BadRequest(f"The room key is missing or malformed: {exc}.") from None
            return self._admit(connection_id, room_id, role, token, now, client)
        except SignallingError:
            self._live.never_opened(client, connection_id)
            raise

    def connect_room(
        self, connection_id: str, room_id: str, role: str, token: str | None, source_ip: str
    ) -> tuple[Connection, str | None]:
        """Admit a connection into a room named by another capability than its key.

        A spoken code's nameplate, claimed once (nameplates.py), names the room of a
        sender waiting for its receiver; the attempt counts toward the connect limit.
        """
        now = int(self._clock())
        client = self._candidate(connection_id, source_ip, now)
        try:
            self._count_connect(client, now)
            return self._admit(connection_id, room_id, role, token, now, client)
        except SignallingError:
            self._live.never_opened(client, connection_id)
            raise

    def _candidate(self, connection_id: str, source_ip: str, now: int) -> str:
        """The client hash; the attempt waits (in this instance) to be recorded as open.

        Noted before anything is written, so whichever write of the client's record
        this attempt makes carries it; a refused attempt is forgotten again.
        """
        client = self.client_hash(source_ip, now)
        self._live.admitted(client, connection_id, now + self._settings.connection_ttl_seconds)
        return client

    def _count_connect(self, client: str, now: int) -> None:
        """Count a connect attempt of the client's address; refuse it over the limit."""
        window = now // RATE_WINDOW_SECONDS
        limit = self._settings.connect_rate_per_minute
        count = self._counters.add(
            f"connect/{client}", window, limit,
            lambda n: self._write_client(client, window, n, now),
        )
        if count is not None and count > limit:
            raise RateLimited("Too many connections from your address; wait a minute.")

    def _write_client(self, client: str, window: int, n: int, now: int) -> int:
        """The one write of the client's record: `n` connect attempts, the connections
        admitted here since the last write, and the ids to forget; keep what it returns."""
        admitted, gone = self._live.take(client, now)
        # the record outlives every connection it holds (and the minute it counts)
        expires_at = now + self._settings.connection_ttl_seconds + 2 * RATE_WINDOW_SECONDS
        record = self._repo.count_connect(client, window, n, expires_at, admitted, gone)
        self._live.saw(client, record.connections)
        return record.connects

    def _admit(
        self, connection_id: str, room_id: str, role: str | None, token: str | None, now: int,
        client: str,
    ) -> tuple[Connection, str | None]:
        """Check the request and the address's open connections, then take a slot."""
        if role not in ROLES:
            raise BadRequest("role must be sender or receiver.")
        if token is not None and not TOKEN_RE.fullmatch(token):
            raise BadRequest("token must be 22 to 64 base64url characters.")
        self._check_open_connections(client, connection_id, now)
        return self._claim(connection_id, room_id, role, token, now)

    def _check_open_connections(self, client: str, connection_id: str, now: int) -> None:
        """Refuse a connection past `max_connections_per_address` open ones.

        Free on the common path: this instance's view (its last write of the record,
        plus what it admitted since, this attempt included) is within the cap and
        fewer than a batch of admissions wait to be recorded. Otherwise one write of
        the record (it also carries the attempt counts) records them and refreshes
        the view; only a view over the cap costs a read, asking which of its
        connections are closed (`$disconnect` writes nothing for the cap: a closed
        connection's item is gone). A batch is 1 for a cap under 4 or a connect rate
        under 16 a minute, and then the cap is exact but for racing connects.
        """
        cap = self._settings.max_connections_per_address
        batch = max(1, min(COUNT_BATCH, self._settings.connect_rate_per_minute // 8, cap // 2))
        recorded = not self._live.is_pending(client, connection_id)  # the count just wrote
        if not recorded and (len(self._live.open_ids(client, now)) <= cap
                             and self._live.pending(client) < batch):
            return
        if not recorded:
            window = now // RATE_WINDOW_SECONDS
            self._counters.flush(f"connect/{client}", window,
                                 lambda n: self._write_client(client, window, n, now))
        open_ids = self._live.open_ids(client, now)
        if len(open_ids) <= cap:
            return
        closed = self._repo.closed_connections(open_ids - {connection_id}, now)
        self._live.found_closed(client, closed)
        if len(open_ids) - len(closed) > cap:
            raise TooManyConnections(
                f"{cap} connections from your address are open already; close one and retry."
            )

    def _claim(
        self, connection_id: str, room_id: str, role: str, token: str | None, now: int
    ) -> tuple[Connection, str | None]:
        """Take a free slot of `role` in the room (or the caller's own, by its token)."""
        th = token_hash(token) if token is not None else None
        expires_at = now + self._settings.connection_ttl_seconds
        for slot in model.slots_for(role, self._settings.max_receivers):
            conn = Connection(connection_id, room_id, role, slot, now, expires_at)
            try:
                replaced = self._repo.claim_slot(conn, th, now)
            except SlotTaken as taken:
                took, replaced = self._take_over_dead(conn, th, now, taken.holder)
                if not took:
                    continue
            if replaced is not None and replaced != connection_id:
                # The replaced connection loses its membership at once: whatever it
                # sends from now on (ping and ice-servers included) is not-in-room.
                self._repo.delete_connection(replaced)
            return conn, replaced
        raise RoomFull(f"This room already has its {role}" + ("." if role == "sender" else "s."))

    def _take_over_dead(
        self, conn: Connection, th: str | None, now: int, holder: Member
    ) -> tuple[bool, str | None]:
        """Take a slot whose holder vanished without `$disconnect`.

        Returns whether the slot is now ours, and the id it was taken from. A
        holder still inside its admission grace may be finishing its upgrade (the
        gateway does not know it yet) and is left alone, as is a live one.
        """
        if self._gateway is None or not holder.connection_id:
            return False, None
        if now - holder.connected_at < self._settings.admission_grace_seconds:
            return False, None
        if self._gateway.alive(holder.connection_id):
            return False, None
        logger.info("taking over a slot from a vanished connection", extra={"slot": conn.slot})
        try:
            return True, self._repo.claim_slot(conn, th, now, take_over=holder.connection_id)
        except SlotTaken:
            return False, None  # someone else won the race for it

    def client_hash(self, source_ip: str, now: int) -> str:
        """Salted SHA-256 of the client address; the raw address is never stored.

        The salt changes daily and is derived from a secret the table does not
        hold (`CLIENT_HASH_SECRET`), so someone who reads the table cannot test
        addresses against the hashes.
        """
        day = dt.datetime.fromtimestamp(now, dt.UTC).strftime("%Y-%m-%d")
        salt = hmac.new(self._hash_secret, _SALT_LABEL + day.encode(), hashlib.sha256).digest()
        return hashlib.sha256(salt + source_ip.encode()).hexdigest()[:32]

    # -- departure -------------------------------------------------------

    def disconnect(self, connection_id: str) -> Outcome:
        """Remove the connection; if it still held its slot, tell the rest of the room."""
        conn = self._repo.delete_connection(connection_id)
        if conn is None:
            return Outcome()
        if not self._repo.release_slot(conn.room_id, conn.slot, connection_id):
            # Its slot was taken back by a reconnect: the room already knows.
            return Outcome()
        me = Member(connection_id, conn.role, conn.slot)
        now = int(self._clock())
        others = self._repo.members(conn.room_id, now)
        return self._fan_out(conn.room_id, others, model.peer_left(me, "closed"), None)

    # -- relay actions ---------------------------------------------------

    def hello(self, connection_id: str, ref: str | None = None) -> Outcome:
        """Tell the caller who it is and who is here; tell the others it joined."""
        conn, me, others = self._room_of(connection_id)
        limits = {
            "maxPayloadBytes": self._settings.max_payload_bytes,
            "messagesPerMinute": self._settings.message_rate_per_minute,
            # a sender asked for N receivers checks N against it before anyone joins
            "maxReceivers": self._settings.max_receivers,
        }
        # the ICE servers ride along: a client needs them anyway, and every message
        # saved is one Lambda invocation and two billed WebSocket messages fewer
        servers, expires_at = self._ice(connection_id)
        self._reply(connection_id, model.welcome(me, conn.room_id, others, limits,
                                                 servers, expires_at, ref))
        return self._fan_out(conn.room_id, others, model.peer_joined(me), connection_id)

    def signal(
        self, connection_id: str, payload: Any, to: str | None = None, ref: str | None = None
    ) -> Outcome:
        """Forward an opaque payload to the other peers of the caller's room (or to `to`)."""
        payload_json = json.dumps(payload, separators=(",", ":"), ensure_ascii=False)
        size = len(payload_json.encode())
        if size > self._settings.max_payload_bytes:
            raise PayloadTooLarge(
                f"The payload is {size} bytes; the relay forwards at most "
                f"{self._settings.max_payload_bytes}."
            )
        if to == connection_id:
            raise NotInRoom("`to` names your own connection; name another peer of your room.")
        conn, me, others = self._room_of(connection_id)
        if to is not None:
            others = [m for m in others if m.connection_id == to]
            if not others:
                raise NotInRoom("`to` names no peer of your room.")
        elif me.role == "receiver":
            # receivers talk to their sender only (protocol.md Revision 2.3): a receiver's
            # `ready` leaves before its `welcome` names the sender (#14), and another
            # receiver would refuse a receiver's envelope
            others = [m for m in others if m.role == "sender"]
        if not others:
            raise NoPeer()
        outcome = self._fan_out(conn.room_id, others, model.signal(me, payload_json), connection_id)
        if outcome.delivered == 0:
            raise NoPeer("The peer you signalled has left the room.")
        return outcome

    def ping(self, connection_id: str, ref: str | None = None) -> Outcome:
        """Answer `pong` with the server time (also keeps the connection from idling out)."""
        self._admit_message(connection_id)
        self._reply(connection_id, model.pong(int(self._clock() * 1000), ref))
        return Outcome()

    def ice_servers(self, connection_id: str, ref: str | None = None) -> Outcome:
        """Answer the STUN/TURN servers, TURN with time-limited REST API credentials."""
        self._admit_message(connection_id)
        servers, expires_at = self._ice(connection_id)
        self._reply(connection_id, model.ice_servers(servers, expires_at, ref))
        return Outcome()

    def _ice(self, connection_id: str) -> tuple[list[dict[str, Any]], int]:
        """STUN/TURN servers for `connection_id`, and when its TURN credentials expire."""
        expires_at = int(self._clock()) + self._settings.turn_credential_ttl_seconds
        servers: list[dict[str, Any]] = []
        if self._settings.stun_urls:
            servers.append({"urls": list(self._settings.stun_urls)})
        if self._settings.turn_urls:
            secret = self._turn_secret()
            if secret:
                username, credential = turn_credentials(secret, connection_id, expires_at)
                servers.append(
                    {
                        "urls": list(self._settings.turn_urls),
                        "username": username,
                        "credential": credential,
                    }
                )
            else:
                logger.warning("TURN_URLS set but no TURN secret available; omitting TURN")
        return servers, expires_at

    # -- storage actions (the S3 fallback, docs/signalling.md §6) -------------

    def upload_start(
        self, connection_id: str, obj: str, first: int | None = None, parts: int | None = None,
        ref: str | None = None, *, size: int | None = None, part_size: int | None = None,
    ) -> Outcome:
        """Give the room's sender a PUT URL, or its (new or unfinished) multipart upload.

        The sender declares the object's exact size; the relay refuses more than
        `MAX_TRANSFER_BYTES` per room (and `MAX_RECORD_OBJECTS` objects), more parts
        than the size needs, and signs every URL for exactly the declared bytes.
        """
        conn = self._sender_of(connection_id)
        storage = self._storage_or_fail()
        if size is None:
            raise MissingField("upload-start needs the field size (the object's bytes).")
        record = self.transfers.gate(conn.room_id, storing=True) if self.transfers else None
        fields: dict[str, Any] = {"object": obj}
        if obj == "manifest":
            if first is not None or parts is not None or part_size is not None:
                raise InvalidField(
                    "upload-start of the manifest takes neither first, parts nor partSize."
                )
            if size > MAX_MANIFEST_OBJECT_BYTES:
                raise TooLarge(f"A sealed manifest is at most {MAX_MANIFEST_OBJECT_BYTES} bytes.")
            fields["url"] = storage.put_url(manifest_key(conn.room_id), size)
        else:
            if first is None or parts is None:
                raise MissingField("upload-start of records needs the fields first and parts.")
            key = records_key(conn.room_id, first)
            self._check_room_capacity(storage, conn.room_id, key, size)
            fields["first"] = first
            if parts == 0:
                if part_size is not None:
                    raise InvalidField("A single PUT (parts 0) takes no partSize.")
                if size > MAX_SINGLE_PUT_BYTES:
                    raise InvalidField("An object over 5 GiB needs a multipart upload.")
                fields["url"] = storage.put_url(key, size)
            else:
                if part_size is None:
                    raise MissingField("A multipart upload-start needs the field partSize.")
                if parts != -(-size // part_size):
                    raise InvalidField(
                        f"{size} bytes in parts of {part_size} make {-(-size // part_size)} "
                        f"parts, not {parts}."
                    )
                upload_id, uploaded = storage.start_upload(key)
                now = int(self._clock())
                held = self._repo.upload_plan(conn.room_id, first, now)
                if held is not None and held.upload_id == upload_id and (
                    held.size, held.part_size, held.parts) != (size, part_size, parts):
                    raise InvalidField(
                        "The unfinished upload at this first record has another size or "
                        "part size; resume it with the same plan."
                    )
                self._repo.put_upload_plan(conn.room_id, first, UploadPlan(
                    upload_id, size, part_size, parts, now + UPLOAD_PLAN_SECONDS))
                fields["uploadId"] = upload_id
                fields["uploaded"] = ranges_of(uploaded)
        fields["expiresAt"] = storage.url_expiry()
        fields["storedUntil"] = self._stored_until(self._clock(), record)
        self._reply(connection_id, model.reply("upload-start", fields, ref))
        return Outcome()

    def _check_room_capacity(self, storage: Storage, room_id: str, key: str, size: int) -> None:
        """Refuse an object that would take the room past its bytes or objects."""
        limit = self._settings.max_transfer_bytes
        if size > limit:
            raise TooLarge(f"This relay stores at most {limit} bytes per transfer.")
        others = [
            o for o in storage.objects(room_prefix(room_id))
            if o.key != key and split_records_key(room_id, o.key) is not None
        ]
        if len(others) >= MAX_RECORD_OBJECTS:
            raise TooLarge(f"A transfer is stored in at most {MAX_RECORD_OBJECTS} objects.")
        if sum(o.size for o in others) + size > limit:
            raise TooLarge(f"This relay stores at most {limit} bytes per transfer.")

    def _plan_of(self, conn: Connection, first: int, upload_id: str) -> UploadPlan:
        """The plan of the room's upload at `first`, if `upload_id` is the one it names."""
        plan = self._repo.upload_plan(conn.room_id, first, int(self._clock()))
        if plan is None or plan.upload_id != upload_id:
            raise NoUpload()
        return plan

    def upload_parts(
        self, connection_id: str, first: int, upload_id: str, parts: list[int],
        ref: str | None = None,
    ) -> Outcome:
        """UploadPart URLs of the sender's multipart upload of the records at `first`."""
        conn = self._sender_of(connection_id)
        storage = self._storage_or_fail()
        if self.transfers is not None:
            self.transfers.gate(conn.room_id)
        if len(set(parts)) != len(parts):
            raise InvalidField("The field parts lists a part number twice.")
        plan = self._plan_of(conn, first, upload_id)
        if max(parts) > plan.parts:
            raise InvalidField(f"This upload has {plan.parts} parts.")
        try:
            urls = storage.part_urls(
                records_key(conn.room_id, first), upload_id,
                [(n, plan.part_bytes(n)) for n in parts],
            )
        except NoSuchUploadError:
            raise NoUpload() from None
        fields = {
            "first": first,
            "uploadId": upload_id,
            "urls": [{"part": n, "url": url} for n, url in urls],
            "expiresAt": storage.url_expiry(),
        }
        self._reply(connection_id, model.reply("upload-parts", fields, ref))
        return Outcome()

    def upload_complete(
        self, connection_id: str, first: int, upload_id: str, parts: int, ref: str | None = None
    ) -> Outcome:
        """Complete the sender's multipart upload with exactly parts 1…parts."""
        conn = self._sender_of(connection_id)
        storage = self._storage_or_fail()
        if self.transfers is not None:
            self.transfers.gate(conn.room_id)
        plan = self._plan_of(conn, first, upload_id)
        if parts != plan.parts:
            raise InvalidField(f"This upload has {plan.parts} parts, not {parts}.")
        try:
            size = storage.complete(records_key(conn.room_id, first), upload_id, parts)
        except NoSuchUploadError:
            raise NoUpload() from None
        except MissingPartsError as exc:
            raise UploadIncomplete(
                f"Part {exc.first_missing} has not been uploaded; upload it and complete again."
            ) from None
        fields = {"first": first, "size": size, "storedUntil": self._stored_until(self._clock())}
        self._reply(connection_id, model.reply("upload-complete", fields, ref))
        return Outcome()

    def download_urls(self, connection_id: str, ref: str | None = None) -> Outcome:
        """GET URLs of the room's stored transfer, for any member (the sender may be gone)."""
        conn, _, _ = self._room_of(connection_id)
        storage = self._storage_or_fail()
        # a closed link says why (link-expired, link-used-up, link-revoked)
        record = self.transfers.gate(conn.room_id) if self.transfers else None
        now = self._clock()
        cutoff = now - self._settings.transfer_expiry_days * 86400
        live = [o for o in storage.objects(room_prefix(conn.room_id)) if o.modified >= cutoff]
        manifest = next((o for o in live if o.key == manifest_key(conn.room_id)), None)
        if manifest is None:
            raise Expired()
        records = sorted(
            (first, o) for o in live
            if (first := split_records_key(conn.room_id, o.key)) is not None
        )
        fields = {
            "manifest": {"url": storage.get_url(manifest.key), "size": manifest.size},
            "records": [
                {"first": first, "size": o.size, "url": storage.get_url(o.key)}
                for first, o in records
            ],
            "expiresAt": storage.url_expiry(),
            "storedUntil": self._stored_until(manifest.modified, record),
        }
        self._reply(connection_id, model.reply("download-urls", fields, ref))
        return Outcome()

    def member_of(self, connection_id: str) -> tuple[str, Member]:
        """The caller's room id and itself as a member (its role), if it holds its slot."""
        conn, me, _ = self._room_of(connection_id)
        return conn.room_id, me

    def sender_room(self, connection_id: str) -> str:
        """The caller's room id, if it holds its room's sender slot (else `forbidden`)."""
        return self._sender_of(connection_id).room_id

    def reply_to(
        self, connection_id: str, kind: str, fields: dict[str, Any], ref: str | None = None
    ) -> None:
        """Answer the caller directly (actions of add-on modules such as `nameplates`)."""
        self._reply(connection_id, model.reply(kind, fields, ref))

    def report(self, connection_id: str, err: SignallingError, ref: str | None = None) -> None:
        """Tell the caller about its mistake; the connection stays open."""
        self._reply(connection_id, model.error(err.code, err.message, ref))

    # -- helpers ---------------------------------------------------------

    def admit_frame(self, connection_id: str) -> Connection:
        """Count one frame of the caller (valid or not) and check it still holds a slot.

        The relay calls this before it parses a frame, so bad JSON, unknown actions
        and oversized payloads count toward the rate limit like any message.
        """
        conn = self._count_and_check(connection_id)
        self._admitted[connection_id] = conn  # the action it carries is not counted again
        return conn

    def _count_and_check(self, connection_id: str) -> Connection:
        now = int(self._clock())
        window = now // RATE_WINDOW_SECONDS
        limit = self._settings.message_rate_per_minute
        conn = self._member_or_none(connection_id, now)
        if conn is None:
            raise NotInRoom("This connection is not in a room any more; reconnect.")
        count = self._counters.add(
            f"frames/{connection_id}", window, limit,
            lambda n: self._repo.add_frames(connection_id, window, n, now),
        )
        if count is None:
            raise NotInRoom("This connection is not in a room any more; reconnect.")
        if count > limit:
            raise RateLimited(
                f"More than {limit} messages this minute; wait and try again."
            )
        return conn

    def _member_or_none(self, connection_id: str, now: int) -> Connection | None:
        """The caller's connection if it still holds its slot (one strongly consistent read).

        A connection this instance knows is checked against its room's slot items (the
        members are kept for the action); one it does not know, by its item, which is
        deleted whenever its slot is lost (replaced, found gone, disconnected).
        """
        self._members.pop(connection_id, None)  # only this request's read may be reused
        known = self._known.get(connection_id)
        if known is not None and known.expires_at >= now:
            members = self._repo.members(known.room_id, now)
            if any(m.connection_id == connection_id for m in members):
                self._members[connection_id] = members
                return known
            self._known.pop(connection_id, None)
            return None
        conn = self._repo.connection(connection_id, now)
        if conn is not None:
            if len(self._known) >= KNOWN_CONNECTIONS:
                self._known.clear()
            self._known[connection_id] = conn
        return conn

    def _admit_message(self, connection_id: str) -> Connection:
        conn = self._admitted.pop(connection_id, None)
        return conn if conn is not None else self._count_and_check(connection_id)

    def _room_of(self, connection_id: str) -> tuple[Connection, Member, list[Member]]:
        conn = self._admit_message(connection_id)
        members = self._members.pop(connection_id, None)
        if members is None:
            members = self._repo.members(conn.room_id, int(self._clock()))
        me = next((m for m in members if m.connection_id == connection_id), None)
        if me is None:
            raise NotInRoom(
                "Your slot was taken back by a newer connection with your token; use that one."
            )
        return conn, me, [m for m in members if m.connection_id != connection_id]

    def _sender_of(self, connection_id: str) -> Connection:
        """The caller's connection, if it holds its room's sender slot; else refused."""
        conn, me, _ = self._room_of(connection_id)
        if me.role != "sender":
            raise Forbidden()
        return conn

    def _storage_or_fail(self) -> Storage:
        if self._storage is None or self._settings.bucket_name is None:
            raise StorageUnavailable()
        return self._storage

    def _stored_until(self, stored_at: float, record: TransferRecord | None = None) -> int:
        until = int(stored_at) + self._settings.transfer_expiry_days * 86400
        return min(until, record.expires_at) if record is not None else until

    def _gateway_or_fail(self) -> Gateway:
        if self._gateway is None:
            raise RuntimeError("this request needs a gateway")
        return self._gateway

    def _reply(self, connection_id: str, data: bytes) -> None:
        try:
            self._gateway_or_fail().send(connection_id, data)
        except GoneError:
            logger.info("caller is gone before its reply", extra={"connection_id": connection_id})

    def _fan_out(
        self, room_id: str, targets: list[Member], data: bytes, sender_id: str | None
    ) -> Outcome:
        """Post `data` to each target; remove targets found gone and tell the sender."""
        gateway = self._gateway_or_fail()
        delivered = gone = 0
        for target in targets:
            try:
                gateway.send(target.connection_id, data)
                delivered += 1
            except GoneError:
                age = int(self._clock()) - target.connected_at
                if age < self._settings.admission_grace_seconds:
                    # Still finishing its upgrade (API Gateway says 410 to a connection
                    # that is not open yet): it is not gone; it will say hello itself.
                    continue
                gone += 1
                # Remove the stale *target* (never the sender), and only the slot it holds.
                self._repo.delete_connection(target.connection_id)
                self._repo.release_slot(room_id, target.slot, target.connection_id)
                if sender_id is not None:
                    self._reply(sender_id, model.peer_left(target, "gone"))
        return Outcome(delivered, gone)
