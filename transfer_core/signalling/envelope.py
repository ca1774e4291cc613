"""Signed signalling envelopes: the relay forwards them, it cannot forge or replay them.

Every offer, answer and candidate a peer sends is authenticated with the signalling
key derived from the link secret (docs/protocol.md §7). The SDP is signed whole, so a
relay that swaps the DTLS fingerprint breaks the MAC; each message names the fresh
nonce of the peer message it answers, so an old offer replayed into a new session is
refused; and the author's role is signed, so a message reflected back to its author
is refused too.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import struct
from dataclasses import dataclass
from typing import Any

from ..errors import SGraphSendError

VERSION = 1
LABEL = b"sgraph-send/v1/signal"
KINDS = frozenset({"ready", "offer", "answer", "candidate", "bye", "receipt"})
ROLES = frozenset({"sender", "receiver"})
NONCE_BYTES = 16
MAX_DATA_CHARS = 60_000  # below the relay's payload limit, with room for the envelope

__all__ = ["ForgedSignalError", "ReplayedSignalError", "SignalError", "SignedMessage", "new_nonce"]


class SignalError(SGraphSendError):
    """A signalling message was refused."""


class MalformedSignalError(SignalError):
    """The signalling payload is not an envelope of this protocol."""


class ForgedSignalError(SignalError):
    """The MAC does not verify: the relay (or someone on the way) altered or forged it."""


class ReplayedSignalError(SignalError):
    """An authentic message that answers another session: replayed by the relay."""


def new_nonce(randbytes: Any = os.urandom) -> str:
    return randbytes(NONCE_BYTES).hex()


def _mac(key: bytes, fields: tuple[str, ...]) -> str:
    mac = hmac.new(key, LABEL, hashlib.sha256)
    for field in fields:
        data = field.encode("utf-8")
        mac.update(struct.pack(">I", len(data)))
        mac.update(data)
    return mac.hexdigest()


@dataclass(frozen=True)
class SignedMessage:
    """One signalling message between the two peers of a transfer."""

    kind: str
    """`ready` (a peer's fresh session), `offer`, `answer`, `candidate`, `bye`, `receipt`
    (session.receipt)."""
    role: str
    """The author's role: `sender` or `receiver`."""
    nonce: str
    """The author's session nonce (32 hex), fresh for each connection attempt."""
    reply_to: str = ""
    """The peer's session nonce this message answers; empty for `ready`."""
    data: str = ""
    """SDP for offers and answers, one `candidate:` line for candidates; a `ready` may
    name the receiver (session.receipt.receiver_id), a `receipt` carries its JSON."""

    def _fields(self) -> tuple[str, ...]:
        return (str(VERSION), self.kind, self.role, self.nonce, self.reply_to, self.data)

    def to_payload(self, signal_key: bytes) -> dict[str, Any]:
        """The JSON object handed to the relay's `signal` action."""
        return {
            "v": VERSION, "kind": self.kind, "role": self.role, "nonce": self.nonce,
            "reply_to": self.reply_to, "data": self.data,
            "mac": _mac(signal_key, self._fields()),
        }

    @classmethod
    def from_payload(cls, payload: Any, signal_key: bytes, *, author: str) -> SignedMessage:
        """Verify a payload said to come from a peer of role `author`."""
        if not isinstance(payload, dict) or payload.get("v") != VERSION:
            raise MalformedSignalError("not a signalling envelope of version 1")
        fields = ("kind", "role", "nonce", "reply_to", "data", "mac")
        if any(not isinstance(payload.get(f), str) for f in fields):
            raise MalformedSignalError("a signalling envelope field is missing or not text")
        message = cls(payload["kind"], payload["role"], payload["nonce"], payload["reply_to"],
                      payload["data"])
        if not hmac.compare_digest(_mac(signal_key, message._fields()), payload["mac"]):
            raise ForgedSignalError(
                "a signalling message failed authentication: the relay altered or forged it"
                " (possible interception); the connection was refused"
            )
        if message.kind not in KINDS or message.role not in ROLES:
            raise MalformedSignalError(f"unknown signalling kind {message.kind!r}")
        if message.role != author:
            raise ReplayedSignalError("a signalling message came back from the wrong side")
        return message

    def answering(self, nonce: str) -> None:
        """Check this message answers our current session `nonce`."""
        if self.reply_to != nonce:
            raise ReplayedSignalError(
                f"a {self.kind} from an earlier session was replayed; refused"
            )
