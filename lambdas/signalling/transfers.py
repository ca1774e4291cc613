"""A transfer the sender controls: download limits, expiry and revocation of a stored transfer.

One item per room keeps the rules of its stored transfer (docs/signalling.md §8):

| item | pk | sk | attributes |
| --- | --- | --- | --- |
| transfer | `ROOM#<room>` | `TRANSFER` | expires_at, downloads, done, ttl, closed, closed_at |

(`downloads` 0: no limit; `closed` absent while live, else `expired`, `used-up`, `revoked`.)

While the transfer is live its `ttl` is its `expires_at`: DynamoDB's TTL deletes
the item at expiry, and the table's stream hands that deletion to the cleanup
function (`lambdas/cleanup.py` -> `cleanup.expired_rooms` -> `TransferControl.expire`),
which deletes the stored objects, aborts unfinished uploads and writes the item
back as closed. Closing a transfer any other way (N downloads reported done, a
revoke, a request that finds it past `expires_at` before TTL got to it) does the
same at once, in the relay. A closed item is kept `CLOSED_KEEP_SECONDS`, so a
receiver of a dead link learns *why* it is dead (`link-expired`, `link-used-up`,
`link-revoked`) rather than "nothing stored"; after that the room is forgotten.

Nothing here holds a key, a file name or a byte of the file: the room id (a hash
of the room key), numbers and one of three words.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from transfer_core.storage.layout import room_prefix

from .errors import InvalidField, SignallingError

logger = logging.getLogger(__name__)

__all__ = [
    "CLOSED_KEEP_SECONDS",
    "MAX_DOWNLOADS",
    "MIN_EXPIRY_SECONDS",
    "DynamoTransfers",
    "LinkClosed",
    "LinkExpired",
    "LinkRevoked",
    "LinkUsedUp",
    "MemoryTransfers",
    "Purger",
    "TransferControl",
    "TransferRecord",
    "TransferStore",
    "closed_error",
]

MIN_EXPIRY_SECONDS = 60
"""Shortest `expiresIn` a sender may ask for: a minute."""
MAX_DOWNLOADS = 1000
"""Largest download limit (a limit, not a count anyone needs beyond this)."""
CLOSED_KEEP_SECONDS = 30 * 86400
"""How long a closed transfer's reason is remembered (then: "nothing stored")."""
REASONS = ("expired", "used-up", "revoked")


# --- errors -----------------------------------------------------------------------------


class LinkClosed(SignallingError):
    """The stored transfer of this link was closed: it is gone and will not come back."""

    code = "link-closed"
    http_status = 410
    reason = ""


class LinkExpired(LinkClosed):
    """The transfer's expiry passed (`--expires`, or the relay's longest keep)."""

    code = "link-expired"
    reason = "expired"
    default_message = ("This link has expired: its stored transfer was deleted. "
                       "Ask the sender for a new link.")


class LinkUsedUp(LinkClosed):
    """The transfer was downloaded as many times as its sender allowed (`--downloads`)."""

    code = "link-used-up"
    reason = "used-up"
    default_message = ("This link is used up: it was downloaded as many times as the sender "
                       "allowed, and its stored transfer was deleted. Ask the sender for a new "
                       "link.")


class LinkRevoked(LinkClosed):
    """The sender revoked the transfer."""

    code = "link-revoked"
    reason = "revoked"
    default_message = ("The sender revoked this link: its stored transfer was deleted. "
                       "Ask the sender for a new link.")


_BY_REASON: dict[str, type[LinkClosed]] = {
    "expired": LinkExpired, "used-up": LinkUsedUp, "revoked": LinkRevoked,
}


def closed_error(reason: str) -> LinkClosed:
    """The error for a transfer closed for `reason`."""
    return _BY_REASON.get(reason, LinkExpired)()


# --- the record and its store -----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TransferRecord:
    """The rules and state of one room's stored transfer."""

    room_id: str
    """The room (32 hex)."""
    expires_at: int
    """Epoch seconds after which the transfer is deleted."""
    downloads: int = 0
    """Completed downloads allowed; 0 means no limit."""
    done: int = 0
    """Completed downloads reported so far."""
    closed: str | None = None
    """None while live; else why it was closed (`expired`, `used-up`, `revoked`)."""

    @property
    def remaining(self) -> int | None:
        """Downloads still allowed (None: no limit)."""
        return max(0, self.downloads - self.done) if self.downloads else None


class TransferStore(Protocol):
    """Where transfer records live; `DynamoTransfers` and `MemoryTransfers` below."""

    def get(self, room_id: str) -> TransferRecord | None:
        """The room's record (strongly consistent), or None."""
        ...

    def ensure(self, room_id: str, expires_at: int) -> TransferRecord:
        """The room's record, created with no download limit and `expires_at` if absent."""
        ...

    def set_limits(self, room_id: str, expires_at: int, downloads: int) -> TransferRecord | None:
        """Set the limits of a live (or new) record, keeping its count; None if closed."""
        ...

    def count_download(self, room_id: str, now: int) -> TransferRecord | None:
        """Add one completed download to a live, unexpired record; None if there is none."""
        ...

    def close(self, room_id: str, reason: str, now: int, keep_until: int) -> bool:
        """Mark the record closed (creating it if absent); False if it was closed already."""
        ...


class Purger(Protocol):
    """Deletes what is stored under a prefix (`S3Presigner.purge`, `InMemoryStorage.purge`)."""

    def purge(self, prefix: str) -> int:
        """Delete every object and abort every unfinished upload under `prefix`; the count."""
        ...


# --- the domain -------------------------------------------------------------------------


class TransferControl:
    """Limits, expiry and revocation of the rooms' stored transfers."""

    def __init__(self, store: TransferStore, purger: Purger, max_keep_seconds: int, *,
                 clock: Callable[[], float] = time.time) -> None:
        self._store = store
        self._purger = purger
        self.max_keep_seconds = max_keep_seconds
        """Longest a transfer is kept: the bucket's lifecycle rule (`TRANSFER_EXPIRY_DAYS`)."""
        self._clock = clock

    def _now(self) -> int:
        return int(self._clock())

    def gate(self, room_id: str, *, storing: bool = False) -> TransferRecord | None:
        """The room's live record; refuse a closed or expired transfer with its reason.

        `storing` (an upload) creates the record if there is none, so every stored
        transfer expires through the backend, with or without limits.
        """
        now = self._now()
        record = (self._store.ensure(room_id, now + self.max_keep_seconds) if storing
                  else self._store.get(room_id))
        if record is None:
            return None
        if record.closed is not None:
            raise closed_error(record.closed)
        if record.expires_at < now:
            # DynamoDB's TTL deletes only eventually: the relay does not wait for it
            self.close(room_id, "expired")
            raise LinkExpired()
        return record

    def set_limits(self, room_id: str, downloads: int | None,
                   expires_in: int | None) -> TransferRecord:
        """The sender's `--downloads` / `--expires`; refused past the relay's longest keep."""
        if expires_in is not None and not (
                MIN_EXPIRY_SECONDS <= expires_in <= self.max_keep_seconds):
            raise InvalidField(
                f"expiresIn must lie between {MIN_EXPIRY_SECONDS} seconds and "
                f"{_as_days(self.max_keep_seconds)} (this relay keeps a stored transfer "
                "at most that long)."
            )
        if downloads is not None and not 1 <= downloads <= MAX_DOWNLOADS:
            raise InvalidField(f"downloads must lie between 1 and {MAX_DOWNLOADS}.")
        live = self.gate(room_id)
        now = self._now()
        expires_at = (now + expires_in if expires_in is not None
                      else live.expires_at if live is not None
                      else now + self.max_keep_seconds)
        keep = downloads if downloads is not None else (live.downloads if live else 0)
        record = self._store.set_limits(room_id, expires_at, keep)
        if record is None:  # closed between the two requests: say why
            self.gate(room_id)
            raise LinkExpired()
        return record

    def download_done(self, room_id: str) -> TransferRecord | None:
        """A receiver verified the whole transfer: count it; close at the limit.

        None when the room has no record (nothing was stored, no limits were set).
        """
        counted = self._store.count_download(room_id, self._now())
        if counted is None:
            self.gate(room_id)  # closed or expired: say why
            return None
        if counted.downloads and counted.done >= counted.downloads:
            self.close(room_id, "used-up")
        return counted

    def revoke(self, room_id: str) -> str:
        """Delete the stored transfer now; the reason the link is closed for (an earlier
        closure stands: revoking an expired link leaves it `expired`)."""
        if self.close(room_id, "revoked"):
            return "revoked"
        record = self._store.get(room_id)
        return record.closed if record is not None and record.closed else "revoked"

    def expire(self, room_id: str) -> bool:
        """The cleanup function's work when DynamoDB's TTL removed a live record."""
        return self.close(room_id, "expired")

    def close(self, room_id: str, reason: str) -> bool:
        """Mark the transfer closed, then delete what is stored; False if already closed."""
        now = self._now()
        first = self._store.close(room_id, reason, now, now + CLOSED_KEEP_SECONDS)
        # purged even when closed already: a relay that failed between the two steps
        # left objects behind, and deleting nothing costs one List
        count = self._purger.purge(room_prefix(room_id))
        logger.info("stored transfer closed", extra={"room": room_id, "reason": reason,
                                                     "objects": count, "first": first})
        return first


def _as_days(seconds: int) -> str:
    days, rest = divmod(seconds, 86400)
    return f"{days} days" if not rest else f"{seconds} seconds"


# --- adapters ---------------------------------------------------------------------------


def _conditional_failure(exc: Exception) -> bool:
    response = getattr(exc, "response", None)
    return isinstance(response, dict) and \
        response.get("Error", {}).get("Code") == "ConditionalCheckFailedException"


def _record(room_id: str, item: dict[str, Any]) -> TransferRecord:
    def n(name: str) -> int:
        return int(item.get(name, {}).get("N", "0"))
    closed = item.get("closed", {}).get("S")
    return TransferRecord(room_id, n("expires_at"), n("downloads"), n("done"),
                          str(closed) if closed else None)


class DynamoTransfers:
    """`TransferStore` over the signalling table (one request per call)."""

    def __init__(self, client: Any, table_name: str) -> None:
        self._client = client
        self._table = table_name

    @staticmethod
    def _key(room_id: str) -> dict[str, Any]:
        return {"pk": {"S": f"ROOM#{room_id}"}, "sk": {"S": "TRANSFER"}}

    def _update(self, room_id: str, **kwargs: Any) -> dict[str, Any]:
        result: dict[str, Any] = self._client.update_item(
            TableName=self._table, Key=self._key(room_id), ReturnValues="ALL_NEW", **kwargs)
        return result

    def get(self, room_id: str) -> TransferRecord | None:
        item = self._client.get_item(TableName=self._table, Key=self._key(room_id),
                                     ConsistentRead=True).get("Item")
        return _record(room_id, item) if item else None

    def ensure(self, room_id: str, expires_at: int) -> TransferRecord:
        result = self._update(
            room_id,
            UpdateExpression="SET expires_at = if_not_exists(expires_at, :e), "
                             "downloads = if_not_exists(downloads, :z), "
                             "done = if_not_exists(done, :z), #ttl = if_not_exists(#ttl, :e)",
            ExpressionAttributeNames={"#ttl": "ttl"},
            ExpressionAttributeValues={":e": {"N": str(expires_at)}, ":z": {"N": "0"}},
        )
        return _record(room_id, result["Attributes"])

    def set_limits(self, room_id: str, expires_at: int, downloads: int) -> TransferRecord | None:
        try:
            result = self._update(
                room_id,
                UpdateExpression="SET expires_at = :e, #ttl = :e, downloads = :d, "
                                 "done = if_not_exists(done, :z)",
                ConditionExpression="attribute_not_exists(closed)",
                ExpressionAttributeNames={"#ttl": "ttl"},
                ExpressionAttributeValues={":e": {"N": str(expires_at)},
                                           ":d": {"N": str(downloads)}, ":z": {"N": "0"}},
            )
        except Exception as exc:
            if _conditional_failure(exc):
                return None
            raise
        return _record(room_id, result["Attributes"])

    def count_download(self, room_id: str, now: int) -> TransferRecord | None:
        try:
            result = self._update(
                room_id,
                UpdateExpression="ADD done :one",
                ConditionExpression="attribute_exists(pk) AND attribute_not_exists(closed) "
                                    "AND expires_at >= :now",
                ExpressionAttributeValues={":one": {"N": "1"}, ":now": {"N": str(now)}},
            )
        except Exception as exc:
            if _conditional_failure(exc):
                return None
            raise
        return _record(room_id, result["Attributes"])

    def close(self, room_id: str, reason: str, now: int, keep_until: int) -> bool:
        try:
            self._update(
                room_id,
                UpdateExpression="SET closed = :r, closed_at = :now, #ttl = :keep",
                ConditionExpression="attribute_not_exists(closed)",
                ExpressionAttributeNames={"#ttl": "ttl"},
                ExpressionAttributeValues={":r": {"S": reason}, ":now": {"N": str(now)},
                                           ":keep": {"N": str(keep_until)}},
            )
        except Exception as exc:
            if _conditional_failure(exc):
                return False
            raise
        return True


@dataclass
class MemoryTransfers:
    """Dict-backed `TransferStore` with the DynamoDB adapter's semantics (tests)."""

    records: dict[str, TransferRecord] = field(default_factory=dict)

    def get(self, room_id: str) -> TransferRecord | None:
        return self.records.get(room_id)

    def ensure(self, room_id: str, expires_at: int) -> TransferRecord:
        return self.records.setdefault(room_id, TransferRecord(room_id, expires_at))

    def set_limits(self, room_id: str, expires_at: int, downloads: int) -> TransferRecord | None:
        held = self.records.get(room_id)
        if held is not None and held.closed is not None:
            return None
        record = TransferRecord(room_id, expires_at, downloads, held.done if held else 0)
        self.records[room_id] = record
        return record

    def count_download(self, room_id: str, now: int) -> TransferRecord | None:
        held = self.records.get(room_id)
        if held is None or held.closed is not None or held.expires_at < now:
            return None
        record = TransferRecord(room_id, held.expires_at, held.downloads, held.done + 1)
        self.records[room_id] = record
        return record

    def close(self, room_id: str, reason: str, now: int, keep_until: int) -> bool:
        held = self.records.get(room_id)
        if held is not None and held.closed is not None:
            return False
        base = held or TransferRecord(room_id, now)
        self.records[room_id] = TransferRecord(room_id, base.expires_at, base.downloads,
                                               base.done, reason)
        return True
