"""A transfer the sender controls: download limits, expiry, revocation (docs/signalling.md §8).

The client side of the relay's control actions: `transfer-limits` (the sender's
`--downloads` / `--expires`), `download-done` (a receiver verified the whole
transfer), `revoke` (delete the stored transfer now), and the typed error for a
link whose stored transfer was closed, distinct from "nothing stored".
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from ..errors import SGraphSendError
from ..timeouts import within
from .client import RelayError, RoomRefusedError, SignalClient

logger = logging.getLogger(__name__)

__all__ = [
    "CLOSED_CODES",
    "DurationError",
    "LimitsRefusedError",
    "LinkClosedError",
    "TransferLimits",
    "apply_limits",
    "closed_error",
    "parse_duration",
    "report_download",
    "revoke_link",
]

Request = Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]

#: The relay's error codes for a closed link, and the reason each names.
CLOSED_CODES = {"link-expired": "expired", "link-used-up": "used-up", "link-revoked": "revoked"}
REPORT_SECONDS = 5.0
"""How long a receiver waits to tell the relay its download completed."""
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_DURATION = re.compile(r"([0-9]{1,7})([smhd])")


class DurationError(SGraphSendError, ValueError):
    """A duration is not a number followed by s, m, h or d (`30m`, `2h`, `7d`)."""


class LimitsRefusedError(SGraphSendError):
    """The relay refused the sender's limits (an expiry past what it keeps, for one)."""


class LinkClosedError(SGraphSendError):
    """The link's stored transfer was closed and deleted: expired, used up, or revoked.

    Distinct from `TransferExpiredError` ("nothing is stored for this link"): the
    relay remembers why a link closed, and a new link is the only way on.
    """

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        """`expired`, `used-up` or `revoked`."""


_SENTENCES = {
    "expired": "this link has expired: its stored transfer was deleted",
    "used-up": ("this link is used up: it was downloaded as many times as the sender allowed,"
                " and its stored transfer was deleted"),
    "revoked": "the sender revoked this link: its stored transfer was deleted",
}


def closed_error(code: str) -> LinkClosedError | None:
    """The `LinkClosedError` of a relay error code, or None for any other code."""
    reason = CLOSED_CODES.get(code)
    return LinkClosedError(reason, _SENTENCES[reason]) if reason is not None else None


def parse_duration(text: str) -> int:
    """Seconds of a duration such as `90s`, `30m`, `2h` or `7d`."""
    match = _DURATION.fullmatch(text.strip().lower())
    if match is None:
        raise DurationError(
            f"{text!r} is not a duration: write a number and a unit, e.g. 30m, 2h or 7d"
        )
    seconds = int(match[1]) * _UNITS[match[2]]
    if seconds <= 0:
        raise DurationError("a duration must be longer than zero")
    return seconds


@dataclass(frozen=True)
class TransferLimits:
    """What the sender allows: completed downloads, and seconds until expiry."""

    downloads: int | None = None
    """Completed downloads after which the stored transfer is deleted (None: no limit)."""
    expires_in: int | None = None
    """Seconds from now after which it is deleted (None: as long as the relay keeps it)."""

    def request(self) -> dict[str, Any]:
        """The `transfer-limits` action."""
        body: dict[str, Any] = {"action": "transfer-limits"}
        if self.downloads is not None:
            body["downloads"] = self.downloads
        if self.expires_in is not None:
            body["expiresIn"] = self.expires_in
        return body


async def apply_limits(request: Request, limits: TransferLimits) -> int:
    """Tell the relay the limits; return when the stored transfer expires (epoch s)."""
    try:
        reply = await request(limits.request())
    except RelayError as exc:
        closed = closed_error(exc.code)
        if closed is not None:
            raise closed from None
        raise LimitsRefusedError(f"the relay refused the limits: {exc}") from None
    return int(reply["expiresAt"])


async def report_download(request: Request) -> int | None:
    """Say a whole transfer arrived and verified (one completed download).

    Best effort: the file is already saved and verified, so a relay that cannot be
    told costs only a download against the link's expiry. The downloads left, if any.
    """
    try:
        reply = await within(request({"action": "download-done"}), REPORT_SECONDS)
    except Exception as exc:  # noqa: BLE001 (whatever the relay says, the file is here)
        logger.info("could not report the completed download: %s", exc)
        return None
    remaining = reply.get("remaining")
    return int(remaining) if remaining is not None else None


async def revoke_link(server_url: str, room_key: bytes, token: str) -> str:
    """Join the room and delete its stored transfer; the reason the link is now closed for.

    Joins as the sender (whose slot is free once it has stopped) or, if a sender is
    connected, as a receiver: the link is the capability, any role may revoke.
    """
    try:
        client = await SignalClient.connect(server_url, room_key, "sender", token)
    except RoomRefusedError as exc:
        if exc.status != 409:
            raise
        client = await SignalClient.connect(server_url, room_key, "receiver", token)
    try:
        await client.hello()
        reply = await client.request({"action": "revoke"})
    finally:
        await client.close()
    return str(reply["closed"])
