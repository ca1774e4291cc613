"""The spoken-code exchange: CPace, key confirmation, and the link secret it yields.

Pure and synchronous: messages in, messages out (JSON-ready dicts). The relay
carries them as opaque `signal` payloads in the nameplate's room; the driver is
`transfer_core.signalling.code_exchange`. docs/protocol.md §11 is the spec.

    receiver (CPace initiator A)            sender (responder B)
    {"kind":"pake","role":"receiver","y":Ya}  ──▶
                                         ◀──  {"kind":"pake","role":"sender","y":Yb,"confirm":Tb}
    checks Tb, then
    {"kind":"confirm","role":"receiver","confirm":Ta}  ──▶   checks Ta

Both then hold the same 256-bit `TransferSecret` and go on as with a link.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from collections.abc import Callable
from typing import Any

from cryptography.hazmat.primitives.hashes import SHA256
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from ..errors import WrongCodeError
from . import cpace
from .keys import SALT
from .secret import TransferSecret
from .spoken import SpokenCode

__all__ = ["ABORT", "LABEL_CODE_SECRET", "CodeHandshake", "channel_identifier", "secret_from_isk"]

VERSION = 1
LABEL_CI = b"sgraph-send/v1/code"
LABEL_CODE_SECRET = b"sgraph-send/v1/code-secret"
AD = {"receiver": b"receiver", "sender": b"sender"}
SID = b""  # no session id is known to both before the run; CPace allows it empty
ABORT = {"v": VERSION, "kind": "abort"}


def channel_identifier(nameplate: int) -> bytes:
    """CI = lv_cat("sgraph-send/v1/code", decimal nameplate)."""
    return cpace.lv_cat(LABEL_CI, str(nameplate).encode("ascii"))


def secret_from_isk(isk: bytes) -> TransferSecret:
    """The link secret: HKDF-SHA256(IKM = ISK, salt "sgraph-send/v1", info code-secret)."""
    return TransferSecret(HKDF(SHA256(), 32, SALT, LABEL_CODE_SECRET).derive(isk))


def _mac_key(isk: bytes) -> bytes:
    return hashlib.sha512(b"CPaceMac" + SID + isk).digest()


def _tag(isk: bytes, y: bytes, ad: bytes) -> bytes:
    return hmac.new(_mac_key(isk), cpace.lv_cat(y, ad), hashlib.sha256).digest()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _field(msg: Any, kind: str, role: str, name: str, size: int) -> bytes:
    """A base64url field of an expected message; anything else is a failed exchange."""
    if not isinstance(msg, dict) or msg.get("v") != VERSION:
        raise WrongCodeError("the other side sent something that is not a code exchange")
    if msg.get("kind") == "abort":
        raise WrongCodeError("the other side says the code is wrong")
    value = msg.get(name)
    if msg.get("kind") != kind or msg.get("role") != role or not isinstance(value, str):
        raise WrongCodeError("the other side sent an unexpected code-exchange message")
    try:
        raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
    except ValueError:
        raw = b""
    if len(raw) != size:
        raise WrongCodeError("the other side sent a malformed code-exchange message")
    return raw


class CodeHandshake:
    """One side of one exchange; each method is one step, in order."""

    def __init__(self, role: str, code: SpokenCode,
                 randbytes: Callable[[int], bytes] = os.urandom) -> None:
        if role not in AD:
            raise ValueError("role is sender or receiver")
        self.role = role
        generator = cpace.calculate_generator(code.password, channel_identifier(code.nameplate),
                                              SID)
        self._own = cpace.share(generator, cpace.sample_scalar(randbytes))
        self._isk: bytes | None = None
        self._peer_y = b""
        self.secret: TransferSecret | None = None
        """Set once the peer's confirmation checked out (sender) or ours was sent (receiver)."""

    def _derive(self, peer_y: bytes, ya: bytes, yb: bytes) -> bytes:
        try:
            return cpace.isk(self._own, peer_y, SID,
                             cpace.transcript_ir(ya, AD["receiver"], yb, AD["sender"]))
        except cpace.CPaceError:
            raise WrongCodeError("the other side's PAKE message is not a valid share") from None

    # receiver (A) ---------------------------------------------------------------
    def start(self) -> dict[str, Any]:
        """Receiver: the first message, Ya."""
        return {"v": VERSION, "kind": "pake", "role": "receiver", "y": _b64(self._own.public)}

    def finish(self, msg: Any) -> dict[str, Any]:
        """Receiver: check the sender's Yb and Tb; return our confirmation Ta."""
        yb = _field(msg, "pake", "sender", "y", 32)
        tb = _field(msg, "pake", "sender", "confirm", 32)
        isk = self._derive(yb, self._own.public, yb)
        if not hmac.compare_digest(tb, _tag(isk, yb, AD["sender"])):
            raise WrongCodeError("the code does not match the sender's")
        self.secret = secret_from_isk(isk)
        return {"v": VERSION, "kind": "confirm", "role": "receiver",
                "confirm": _b64(_tag(isk, self._own.public, AD["receiver"]))}

    # sender (B) -----------------------------------------------------------------
    def answer(self, msg: Any) -> dict[str, Any]:
        """Sender: take Ya; return Yb with our confirmation Tb."""
        ya = _field(msg, "pake", "receiver", "y", 32)
        self._isk = self._derive(ya, ya, self._own.public)
        self._peer_y = ya
        return {"v": VERSION, "kind": "pake", "role": "sender", "y": _b64(self._own.public),
                "confirm": _b64(_tag(self._isk, self._own.public, AD["sender"]))}

    def verify(self, msg: Any) -> TransferSecret:
        """Sender: check the receiver's Ta; only then is the secret usable."""
        if self._isk is None:
            raise RuntimeError("answer() first")
        ta = _field(msg, "confirm", "receiver", "confirm", 32)
        if not hmac.compare_digest(ta, _tag(self._isk, self._peer_y, AD["receiver"])):
            raise WrongCodeError("the code does not match the receiver's")
        self.secret = secret_from_isk(self._isk)
        return self.secret
