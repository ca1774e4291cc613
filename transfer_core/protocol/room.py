"""The room capability: how a client proves it holds the link, and what the relay keeps.

Standard library only (the relay Lambda imports it). The room key is derived
from the link secret (`keys.derive_keys`, HKDF label `sgraph-send/v2/room-key`);
the room id is a one-way hash of it:

    room_id = hex(SHA-256(room_key)[0:16])

A client presents the room key when it opens the WebSocket, as a
`Sec-WebSocket-Protocol` value (so it travels in a TLS-protected header, never in
a URL that logs, proxies or browser history keep). The relay hashes it and admits
the connection to that room; it stores and logs only the room id, from which
nobody can compute the room key (docs/protocol.md §2, docs/signalling.md §1).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re

ROOM_KEY_BYTES = 32
ROOM_ID_BYTES = 16
SUBPROTOCOL = "sgraph-send.v2"
"""The protocol version a client offers and the relay selects (echoed in the 101)."""
KEY_PREFIX = "sgraph-send.key."
"""Prefix of the subprotocol value carrying the room key (base64url, unpadded)."""
_KEY_B64 = re.compile(r"[A-Za-z0-9_-]{43}")

__all__ = [
    "KEY_PREFIX",
    "ROOM_KEY_BYTES",
    "SUBPROTOCOL",
    "RoomKeyError",
    "offer",
    "parse_offer",
    "room_id_for",
]


class RoomKeyError(ValueError):
    """A connect did not present a well-formed room key (or not protocol v2)."""


def room_id_for(room_key: bytes) -> str:
    """The room id the relay keeps for `room_key`: 32 lowercase hex characters."""
    if len(room_key) != ROOM_KEY_BYTES:
        raise RoomKeyError(f"a room key is {ROOM_KEY_BYTES} bytes")
    return hashlib.sha256(room_key).digest()[:ROOM_ID_BYTES].hex()


def offer(room_key: bytes) -> list[str]:
    """The `Sec-WebSocket-Protocol` values a client offers: the version, then its key."""
    if len(room_key) != ROOM_KEY_BYTES:
        raise RoomKeyError(f"a room key is {ROOM_KEY_BYTES} bytes")
    encoded = base64.urlsafe_b64encode(room_key).rstrip(b"=").decode()
    return [SUBPROTOCOL, KEY_PREFIX + encoded]


def parse_offer(header: str | None) -> bytes:
    """The room key of a `Sec-WebSocket-Protocol` header value; `RoomKeyError` if none.

    The header must offer `sgraph-send.v2` and exactly one key value (43 base64url
    characters, canonical). Other values are ignored.
    """
    values = [v.strip(" \t") for v in (header or "").split(",") if v.strip(" \t")]
    if SUBPROTOCOL not in values:
        raise RoomKeyError(
            f"offer the WebSocket subprotocol {SUBPROTOCOL} (protocol version 2; "
            "update your client)"
        )
    keys = [v[len(KEY_PREFIX):] for v in values if v.startswith(KEY_PREFIX)]
    if len(keys) != 1 or not _KEY_B64.fullmatch(keys[0]):
        raise RoomKeyError("offer exactly one room key (43 base64url characters)")
    try:
        raw = base64.urlsafe_b64decode(keys[0] + "=")
    except (binascii.Error, ValueError):
        raise RoomKeyError("the room key is not base64url") from None
    if base64.urlsafe_b64encode(raw).rstrip(b"=").decode() != keys[0]:
        raise RoomKeyError("the room key is not canonical base64url")
    return raw
