"""Control messages on the data channel (text frames); records travel as binary frames.

Receiver → sender:
    {"t": "have", "r": <base64 range encoding of held chunks>}   on open, then as acks
    {"t": "done"}                                                 file verified and saved
    {"t": "done", "receipt": <signed receipt envelope>}           ...with its receipt
    {"t": "fail", "code": <code>, "message": <text>}              receiver gives up
Sender → receiver: binary frames only (the manifest record first, then data records),
    and {"t": "fail", ...} when it gives up.

The channel is DTLS-protected and its fingerprint was signed with the link's
signalling key, so these messages need no authentication of their own.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any

from ..errors import SGraphSendError
from ..protocol.ranges import RangeEncodingError, RangeSet

__all__ = ["Done", "Fail", "Have", "ProtocolError", "decode_control"]


class ProtocolError(SGraphSendError):
    """The peer sent something this protocol does not allow at this point."""


@dataclass(frozen=True)
class Have:
    """The chunks the receiver holds."""

    held: RangeSet

    def encode(self) -> str:
        return json.dumps({"t": "have", "r": base64.b64encode(self.held.encode()).decode()})


@dataclass(frozen=True)
class Done:
    """The receiver verified the whole file and gave it its name.

    `receipt` is its signed receipt (session.receipt), unverified until the sender
    checks it: a receiver that got the file over this channel hands it over here
    rather than through the relay, which saves the backend two messages (#10 §6).
    """

    receipt: dict[str, Any] | None = None

    def encode(self) -> str:
        if self.receipt is None:
            return '{"t": "done"}'
        return json.dumps({"t": "done", "receipt": self.receipt})


@dataclass(frozen=True)
class Fail:
    """The peer stops, and says why."""

    code: str
    message: str

    def encode(self) -> str:
        return json.dumps({"t": "fail", "code": self.code, "message": self.message})


Control = Have | Done | Fail


def decode_control(text: str) -> Control:
    try:
        doc: Any = json.loads(text)
        kind = doc["t"]
        if kind == "have":
            return Have(RangeSet.decode(base64.b64decode(doc["r"], validate=True)))
        if kind == "done":
            receipt = doc.get("receipt")
            if receipt is not None and not isinstance(receipt, dict):
                raise ProtocolError("a done whose receipt is not an object")
            return Done(receipt)
        if kind == "fail":
            return Fail(str(doc["code"]), str(doc["message"]))
    except (ValueError, KeyError, TypeError, RangeEncodingError) as exc:
        raise ProtocolError(f"unreadable control message: {exc}") from None
    raise ProtocolError(f"unknown control message {kind!r}")


def expect_text(message: bytes | str) -> str:
    """A control message must be a text frame."""
    if not isinstance(message, str):
        raise ProtocolError("expected a control message, got binary data")
    return message
