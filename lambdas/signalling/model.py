"""Value objects of the signalling domain and the server-to-client messages.

Server messages are compact JSON objects with a `type` field; the full list
and their fields are in docs/signalling.md.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

ROLES: tuple[str, ...] = ("sender", "receiver")
#: Matched whole (`fullmatch`): `$` alone would accept a trailing newline.
ROOM_ID_RE = re.compile(r"[0-9a-f]{32}")
TOKEN_RE = re.compile(r"[A-Za-z0-9_-]{22,64}")


@dataclass(frozen=True, slots=True)
class Connection:
    """One WebSocket connection admitted into a room."""

    connection_id: str
    """API Gateway's connection id."""
    room_id: str
    """32 hex characters derived from the link secret."""
    role: str
    """`sender` or `receiver`."""
    slot: str
    """The slot it holds: `sender` or `receiver#<n>`."""
    connected_at: int
    """Epoch seconds of the `$connect`."""
    expires_at: int
    """Epoch seconds after which the item is stale (DynamoDB TTL)."""


@dataclass(frozen=True, slots=True)
class Member:
    """A slot holder of a room, as seen by the relay."""

    connection_id: str
    """Connection id holding the slot."""
    role: str
    """`sender` or `receiver`."""
    slot: str
    """`sender` or `receiver#<n>`."""
    connected_at: int = 0
    """Epoch seconds of its `$connect` (a newcomer may still be finishing its upgrade)."""

    def as_peer(self) -> dict[str, str]:
        """The peer object clients see: id and role."""
        return {"id": self.connection_id, "role": self.role}


def slots_for(role: str, max_receivers: int) -> list[str]:
    """Slot names a connection of `role` may take, in the order they are tried."""
    if role == "sender":
        return ["sender"]
    return [f"receiver#{n}" for n in range(1, max_receivers + 1)]


def encode(message: dict[str, Any]) -> bytes:
    """Compact UTF-8 JSON, the form every server message takes on the wire."""
    return json.dumps(message, separators=(",", ":"), ensure_ascii=False).encode()


def _with_ref(message: dict[str, Any], ref: str | None) -> dict[str, Any]:
    if ref is not None:
        message["ref"] = ref
    return message


def welcome(
    me: Member, room_id: str, peers: list[Member], limits: dict[str, int],
    ice_servers: list[dict[str, Any]], ice_expires_at: int, ref: str | None,
) -> bytes:
    """Answer to `hello`: who the caller is, who else is in the room, its ICE servers."""
    return encode(
        _with_ref(
            {
                "type": "welcome",
                "id": me.connection_id,
                "role": me.role,
                "room": room_id,
                "peers": [p.as_peer() for p in peers],
                "limits": limits,
                "iceServers": ice_servers,
                "iceExpiresAt": ice_expires_at,
            },
            ref,
        )
    )


def peer_joined(peer: Member) -> bytes:
    """Told to the others when a peer says hello."""
    return encode({"type": "peer-joined", "peer": peer.as_peer()})


def peer_left(peer: Member, reason: str) -> bytes:
    """Told to the others when a peer disconnects (`closed`) or is found gone (`gone`)."""
    return encode({"type": "peer-left", "peer": peer.as_peer(), "reason": reason})


def signal(sender: Member, payload_json: str) -> bytes:
    """A forwarded signal; `payload_json` is already compact JSON and is not re-parsed."""
    head = encode({"type": "signal", "from": sender.connection_id, "role": sender.role})
    return head[:-1] + b',"payload":' + payload_json.encode() + b"}"


def pong(now_ms: int, ref: str | None) -> bytes:
    """Answer to `ping`."""
    return encode(_with_ref({"type": "pong", "time": now_ms}, ref))


def ice_servers(servers: list[dict[str, Any]], expires_at: int, ref: str | None) -> bytes:
    """Answer to `ice-servers`: an RTCIceServer list, usable as-is in RTCConfiguration."""
    return encode(
        _with_ref({"type": "ice-servers", "iceServers": servers, "expiresAt": expires_at}, ref)
    )


def error(code: str, message: str, ref: str | None) -> bytes:
    """An error told to the caller; the connection stays open."""
    return encode(_with_ref({"type": "error", "code": code, "message": message}, ref))


def reply(kind: str, fields: dict[str, Any], ref: str | None) -> bytes:
    """A direct answer of `type` `kind` (the storage actions' replies, signalling.md §6)."""
    return encode(_with_ref({"type": kind, **fields}, ref))
