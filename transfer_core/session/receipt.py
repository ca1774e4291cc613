"""Receipts: a receiver's signed word that it holds the whole file, verified (#15).

Once a receiver has checked the whole file's SHA-256 and named it, it sends the
sender a `receipt`: a signed signalling envelope (docs/protocol.md §7, kind
`receipt`) whose `data` is the canonical JSON below, MAC'd under the link's
signalling key. It travels through the relay whichever path carried the records
(docs/protocol.md "Revision 2.1 (#15)"), so one message serves peer to peer and
storage alike.

    {"v":1,"receiver":"<16 hex>","manifest":"<64 hex>","records":<int>,
     "size":<int>,"path":"p2p"|"s3"|"p2p+s3","at":<epoch s>}

`manifest` is the SHA-256 of the sealed manifest record: it binds the receipt to
this very transfer without telling the relay anything about the file (the relay
can already see sealed bytes in storage; never the plaintext's hash or name).
`receiver` names the receiver across its reconnects: a hash of its reconnect
token, which it keeps in its work folder.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import time
from dataclasses import asdict, dataclass, field
from typing import Any

from ..signalling.envelope import MalformedSignalError, SignalError, SignedMessage, new_nonce
from ..timeouts import within

__all__ = ["RECEIPT_KIND", "Receipt", "ReceiptBox", "ReceiptError", "receiver_id"]

logger = logging.getLogger(__name__)

RECEIPT_KIND = "receipt"
RECEIPT_VERSION = 1
_RECEIVER_LABEL = b"sgraph-send/receiver-id/"
PATHS = frozenset({"p2p", "s3", "p2p+s3"})


class ReceiptError(SignalError):
    """A receipt was refused: forged, unsigned, malformed, or for another transfer."""


def receiver_id(token: str) -> str:
    """A receiver's name on receipts and `ready`s: stable across its reconnects, and not
    its token (nor the token's plain SHA-256, which the relay keeps)."""
    return hashlib.sha256(_RECEIVER_LABEL + token.encode()).hexdigest()[:16]


def manifest_digest(manifest_record: bytes) -> str:
    return hashlib.sha256(manifest_record).hexdigest()


@dataclass(frozen=True)
class Receipt:
    """What a receiver signs once the whole file is verified and saved."""

    receiver: str
    """16 hex: `receiver_id` of its token."""
    manifest: str
    """Hex SHA-256 of the sealed manifest record of the transfer."""
    records: int
    """Records of the transfer (all of them are held and verified)."""
    size: int
    """Bytes of the file."""
    path: str
    """What carried the records to this receiver: `p2p`, `s3` or `p2p+s3`."""
    at: int
    """Epoch seconds at which the receiver verified the file."""

    @classmethod
    def for_transfer(cls, receiver: str, manifest_record: bytes, records: int, size: int,
                     path: str, at: int | None = None) -> Receipt:
        return cls(receiver, manifest_digest(manifest_record), records, size, path,
                   int(time.time()) if at is None else at)

    def data(self) -> str:
        """Canonical JSON: sorted keys, no spaces (the test vector depends on it)."""
        doc = {"v": RECEIPT_VERSION, **asdict(self)}
        return json.dumps(doc, sort_keys=True, separators=(",", ":"))

    def to_payload(self, signal_key: bytes, nonce: str | None = None) -> dict[str, Any]:
        """The signed envelope the receiver hands to the relay's `signal` action."""
        message = SignedMessage(RECEIPT_KIND, "receiver", nonce or new_nonce(), "", self.data())
        return message.to_payload(signal_key)

    @classmethod
    def verify(cls, payload: Any, signal_key: bytes, manifest_record: bytes) -> Receipt:
        """The receipt in `payload`, if it is signed under `signal_key` by a receiver and
        names this transfer; else `ReceiptError` (never a half-checked receipt)."""
        if not isinstance(payload, dict) or not isinstance(payload.get("mac"), str):
            raise ReceiptError("an unsigned receipt was refused")
        try:
            message = SignedMessage.from_payload(payload, signal_key, author="receiver")
        except SignalError as exc:
            raise ReceiptError(f"a receipt was refused: {exc}") from None
        if message.kind != RECEIPT_KIND:
            raise ReceiptError(f"expected a receipt, got a {message.kind}")
        try:
            doc = json.loads(message.data)
            receipt = cls(str(doc["receiver"]), str(doc["manifest"]), doc["records"],
                          doc["size"], str(doc["path"]), doc["at"])
            if doc.get("v") != RECEIPT_VERSION:
                raise MalformedSignalError(f"receipt version {doc.get('v')!r}")
        except (ValueError, KeyError, TypeError, MalformedSignalError) as exc:
            raise ReceiptError(f"a malformed receipt was refused ({exc})") from None
        if not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0
                   for v in (receipt.records, receipt.size, receipt.at)):
            raise ReceiptError("a malformed receipt was refused (counts must be integers)")
        if receipt.path not in PATHS:
            raise ReceiptError(f"a malformed receipt was refused (path {receipt.path!r})")
        if receipt.manifest != manifest_digest(manifest_record):
            raise ReceiptError("a receipt for another transfer was refused")
        return receipt

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


RECEIPT_WAIT_SECONDS = 5.0
"""How long a sender waits, after its receivers said `done`, for their receipts (they
follow `done` through the relay within a round trip)."""


@dataclass
class ReceiptBox:
    """The receipts a sender has verified, and how many it refused."""

    signal_key: bytes
    manifest_record: bytes
    verified: dict[str, Receipt] = field(default_factory=dict)
    """By receiver id; a receiver that sends again replaces its receipt."""
    refused: int = 0
    direct: set[str] = field(default_factory=set)
    """Receivers whose receipt came in `done` and says `p2p`: they downloaded nothing
    stored, so they do not report `download-done` themselves (docs/protocol.md 2.2)."""

    def offer(self, payload: Any, in_done: bool = False) -> Receipt | None:
        """Keep the receipt if it verifies; count (and log) it refused if not."""
        try:
            receipt = Receipt.verify(payload, self.signal_key, self.manifest_record)
        except ReceiptError as exc:
            self.refused += 1
            logger.warning("%s", exc)
            return None
        self.verified[receipt.receiver] = receipt
        if in_done and receipt.path == "p2p":
            self.direct.add(receipt.receiver)
        return receipt

    async def gather(self, inbox: asyncio.Queue[Any], expected: int,
                     timeout: float = RECEIPT_WAIT_SECONDS) -> None:
        """Take receipts from `inbox` (relay events with a `payload`) until `expected`
        receivers have one, or `timeout` passes."""
        deadline = time.monotonic() + timeout
        while True:
            while not inbox.empty():
                self.offer(inbox.get_nowait().payload)
            remaining = deadline - time.monotonic()
            if len(self.verified) >= expected or remaining <= 0:
                return
            try:
                self.offer((await within(inbox.get(), remaining)).payload)
            except TimeoutError:
                return
