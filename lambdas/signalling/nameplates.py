"""Nameplates: short numbers that let a spoken code find its sender's room.

A sender in its own room asks for a nameplate (`{"action":"nameplate"}`); the
relay allocates the shortest free number and remembers which room it names. A
receiver who was told `7-guitarist-revenge-amulet` connects with
`?nameplate=7&role=receiver`: the relay takes the nameplate (it is deleted in
the same conditional write, so only one connect can ever use it) and admits
the connection to that room as its receiver. Everything after that is the
ordinary relay: the PAKE messages are opaque `signal` payloads, and the relay
never sees the words of the code.

One guess per nameplate (the CPace run that follows allows one), nameplates
that expire after `NAMEPLATE_TTL_SECONDS`, and a per-client limit on
allocations and claims (`NAMEPLATE_RATE_PER_MINUTE`) bound what a guesser or a
squatter can do. This path is separate from room admission (`service.connect`)
on purpose: it only resolves a number to a room, then admits like any other
connect. docs/signalling.md §7.

Items (same table):

| item | pk | sk | attributes |
| --- | --- | --- | --- |
| nameplate | `NAMEPLATE#<n>` | `NAMEPLATE` | room_id, ttl |
| nameplate counter | `RATE#<client hash>` | `NAMEPLATE#<minute>` | n, ttl |
"""

from __future__ import annotations

import logging
import os
import random
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from transfer_core.protocol.room import SUBPROTOCOL

from .errors import BadRequest, RateLimited, SignallingError

logger = logging.getLogger(__name__)

__all__ = [
    "DynamoNameplates",
    "MemoryNameplates",
    "NameplateSettings",
    "NameplateStore",
    "Nameplates",
    "UnknownNameplate",
    "allocate_action",
    "connect_by_nameplate",
]

NAMEPLATE_RE = re.compile(r"^[1-9][0-9]{0,5}$")
MAX_DIGITS = 6
TRIES_PER_WIDTH = 4
RATE_WINDOW_SECONDS = 60


class UnknownNameplate(SignallingError):
    """No live nameplate has this number: never allocated, already used, or expired."""

    code = "unknown-nameplate"
    default_message = ("No sender is waiting on this code's number: it was used already, "
                       "has expired, or was mistyped. Ask the sender for a new code.")
    http_status = 404


class NameplatesExhausted(SignallingError):
    """No free nameplate was found (the relay is very busy)."""

    code = "nameplates-exhausted"
    default_message = "No short code is free right now; try again in a minute."
    http_status = 503


@dataclass(frozen=True)
class NameplateSettings:
    """Lifetime of an unused nameplate and the per-client allowance."""

    ttl_seconds: int = 600
    rate_per_minute: int = 10

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> NameplateSettings:
        return cls(int(env.get("NAMEPLATE_TTL_SECONDS", 600)),
                   int(env.get("NAMEPLATE_RATE_PER_MINUTE", 10)))


class NameplateStore(Protocol):
    """Where nameplates live; `DynamoNameplates` and `MemoryNameplates` below."""

    def reserve(self, number: int, room_id: str, expires_at: int, now: int) -> bool:
        """Write the nameplate if it is free or expired; False if a live one holds it."""
        ...

    def take(self, number: int, now: int) -> str | None:
        """Delete a live nameplate and return its room id; None if there is none."""
        ...

    def count(self, client_hash: str, window: int, expires_at: int) -> int:
        """Add one allocation or claim for the client in minute `window`; the new count."""
        ...


class Nameplates:
    """Allocation and one-shot claims, with a per-client rate limit."""

    def __init__(self, store: NameplateStore, settings: NameplateSettings | None = None, *,
                 clock: Callable[[], float] = time.time,
                 rng: random.Random | None = None) -> None:
        self._store = store
        self.settings = settings or NameplateSettings()
        self._clock = clock
        self._rng = rng or random.SystemRandom()

    def _charge(self, client_hash: str, now: int) -> None:
        window = now // RATE_WINDOW_SECONDS
        if self._store.count(client_hash, window, (window + 2) * RATE_WINDOW_SECONDS) \
                > self.settings.rate_per_minute:
            raise RateLimited("Too many codes from your address this minute; wait a minute.")

    def allocate(self, room_id: str, client_hash: str) -> tuple[int, int]:
        """The shortest free number for `room_id`, and when it expires (epoch s)."""
        now = int(self._clock())
        self._charge(client_hash, now)
        expires_at = now + self.settings.ttl_seconds
        for digits in range(1, MAX_DIGITS + 1):
            low = 1 if digits == 1 else 10 ** (digits - 1)
            for _ in range(TRIES_PER_WIDTH):
                number = self._rng.randint(low, 10**digits - 1)
                if self._store.reserve(number, room_id, expires_at, now):
                    return number, expires_at
        raise NameplatesExhausted()

    def claim(self, number: str | None, client_hash: str) -> str:
        """The room of nameplate `number`, which is used up by this call."""
        if number is None or not NAMEPLATE_RE.match(number):
            raise BadRequest("nameplate must be a number from 1 to 999999.")
        now = int(self._clock())
        self._charge(client_hash, now)
        room_id = self._store.take(int(number), now)
        if room_id is None:
            raise UnknownNameplate()
        return room_id


# --- entry points (registered in api.connect_event and relay_api.relay_event) -----------

class _Service(Protocol):
    def connect_room(self, connection_id: str, room_id: str, role: str,
                     token: str | None, source_ip: str) -> Any: ...

    def client_hash(self, source_ip: str, now: int) -> str: ...

    def sender_room(self, connection_id: str) -> str: ...

    def reply_to(self, connection_id: str, kind: str, fields: dict[str, Any],
                 ref: str | None) -> None: ...


def connect_by_nameplate(service: _Service, nameplates: Nameplates, connection_id: str,
                         query: Mapping[str, str], offered: str | None, source_ip: str) -> Any:
    """`$connect` with `nameplate=<n>`: take the nameplate, join its room as the receiver.

    The nameplate is the capability here (the sender's room key is random and never
    shared); the client offers the protocol version alone.
    """
    if query.get("role") != "receiver" or "room" in query:
        raise BadRequest("a nameplate is joined with role=receiver and no room.")
    if SUBPROTOCOL not in [v.strip(" \t") for v in (offered or "").split(",")]:
        raise BadRequest(f"offer the WebSocket subprotocol {SUBPROTOCOL} (protocol version 2).")
    room_id = nameplates.claim(query.get("nameplate"),
                               service.client_hash(source_ip, int(time.time())))
    return service.connect_room(connection_id, room_id, "receiver", query.get("token"),
                                source_ip)


def allocate_action(service: _Service, nameplates: Nameplates, connection_id: str,
                    source_ip: str, ref: str | None) -> None:
    """`{"action":"nameplate"}` from a room's sender: answer its new nameplate."""
    room_id = service.sender_room(connection_id)
    number, expires_at = nameplates.allocate(
        room_id, service.client_hash(source_ip, int(time.time())))
    service.reply_to(connection_id, "nameplate", {"nameplate": number, "expiresAt": expires_at},
                     ref)


# --- adapters ------------------------------------------------------------------------------

def _conditional_failure(exc: Exception) -> bool:
    response = getattr(exc, "response", None)
    return isinstance(response, dict) and \
        response.get("Error", {}).get("Code") == "ConditionalCheckFailedException"


class DynamoNameplates:
    """`NameplateStore` over the signalling table (one request per call)."""

    def __init__(self, client: Any, table_name: str) -> None:
        self._client = client
        self._table = table_name

    @staticmethod
    def _key(number: int) -> dict[str, Any]:
        return {"pk": {"S": f"NAMEPLATE#{number}"}, "sk": {"S": "NAMEPLATE"}}

    def reserve(self, number: int, room_id: str, expires_at: int, now: int) -> bool:
        try:
            self._client.put_item(
                TableName=self._table,
                Item={**self._key(number), "room_id": {"S": room_id},
                      "ttl": {"N": str(expires_at)}},
                ConditionExpression="attribute_not_exists(pk) OR #ttl < :now",
                ExpressionAttributeNames={"#ttl": "ttl"},
                ExpressionAttributeValues={":now": {"N": str(now)}},
            )
        except Exception as exc:
            if _conditional_failure(exc):
                return False
            raise
        return True

    def take(self, number: int, now: int) -> str | None:
        try:
            result = self._client.delete_item(
                TableName=self._table, Key=self._key(number),
                ConditionExpression="attribute_exists(pk) AND #ttl >= :now",
                ExpressionAttributeNames={"#ttl": "ttl"},
                ExpressionAttributeValues={":now": {"N": str(now)}},
                ReturnValues="ALL_OLD",
            )
        except Exception as exc:
            if _conditional_failure(exc):
                return None
            raise
        return str(result["Attributes"]["room_id"]["S"])

    def count(self, client_hash: str, window: int, expires_at: int) -> int:
        result = self._client.update_item(
            TableName=self._table,
            Key={"pk": {"S": f"RATE#{client_hash}"}, "sk": {"S": f"NAMEPLATE#{window}"}},
            UpdateExpression="ADD n :one SET #ttl = :exp",
            ExpressionAttributeNames={"#ttl": "ttl"},
            ExpressionAttributeValues={":one": {"N": "1"}, ":exp": {"N": str(expires_at)}},
            ReturnValues="UPDATED_NEW",
        )
        return int(result["Attributes"]["n"]["N"])


@dataclass
class MemoryNameplates:
    """Dict-backed `NameplateStore` with the DynamoDB adapter's semantics (tests)."""

    plates: dict[int, tuple[str, int]] = field(default_factory=dict)
    counts: dict[tuple[str, int], int] = field(default_factory=dict)

    def reserve(self, number: int, room_id: str, expires_at: int, now: int) -> bool:
        held = self.plates.get(number)
        if held is not None and held[1] >= now:
            return False
        self.plates[number] = (room_id, expires_at)
        return True

    def take(self, number: int, now: int) -> str | None:
        held = self.plates.get(number)
        if held is None or held[1] < now:
            return None
        del self.plates[number]
        return held[0]

    def count(self, client_hash: str, window: int, expires_at: int) -> int:
        key = (client_hash, window)
        self.counts[key] = self.counts.get(key, 0) + 1
        return self.counts[key]


def from_env(client: Any, table_name: str, env: Mapping[str, str] = os.environ) -> Nameplates:
    """The Lambda's nameplates: DynamoDB, settings from the environment."""
    return Nameplates(DynamoNameplates(client, table_name), NameplateSettings.from_env(env))
