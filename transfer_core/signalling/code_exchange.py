"""Spoken codes over the relay: a nameplate, a CPace run, key confirmation, a link secret.

The sender opens a throw-away room of its own, asks the relay for a nameplate
and shows `<nameplate>-<word>-<word>-<word>`; the receiver joins that room
through the nameplate (which the relay then forgets) and the two run
`protocol.handshake` as opaque `signal` payloads. When both confirmations
check out, each holds the same `TransferSecret` and the transfer continues
exactly as from a link (docs/protocol.md §11). The throw-away room ends when
the sender has joined the transfer's room, which tells the receiver to follow.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Callable
from typing import Any

from ..errors import LinkError, SGraphSendError, WrongCodeError
from ..protocol.handshake import ABORT, CodeHandshake
from ..protocol.secret import TransferSecret
from ..protocol.spoken import SpokenCode
from ..timeouts import within
from .client import (
    PeerLeft,
    RelayClosed,
    RoomRefusedError,
    SignalClient,
    SignallingUnavailableError,
    SignalReceived,
    new_token,
)

logger = logging.getLogger(__name__)

__all__ = ["CodeExpiredError", "UnknownCodeError", "offer_code", "use_code"]


class UnknownCodeError(LinkError):
    """No sender waits on the code's number: used already, expired, or mistyped."""


class CodeExpiredError(SGraphSendError):
    """Nobody entered the code before its nameplate expired."""


class PeerLeftExchangeError(SGraphSendError):
    """The other side left during the code exchange."""


async def _next_signal(client: SignalClient, from_role: str, deadline: float) -> Any:
    """The next payload from `from_role`; the peer leaving or the relay closing ends it."""
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError
        event = await within(client.events.get(), remaining)
        if isinstance(event, SignalReceived) and event.sender.role == from_role:
            return event.payload
        if isinstance(event, PeerLeft) and event.peer.role == from_role:
            raise PeerLeftExchangeError("the other side left during the code exchange")
        if isinstance(event, RelayClosed):
            raise SignallingUnavailableError("the relay connection closed during the code exchange")


ABORT_GRACE_SECONDS = 2.0
"""How long a side that found the code wrong waits for the other to leave first."""


async def _abort(client: SignalClient, other_role: str) -> None:
    """Tell the other side the code was wrong, then give it a moment to read that before
    we leave: a relay may run our leaving before our last signal (API Gateway runs each
    message's Lambda on its own), and the other side would see us leave, not why."""
    with contextlib.suppress(Exception):
        await client.signal(dict(ABORT))
        await _next_signal(client, other_role, time.monotonic() + ABORT_GRACE_SECONDS)


class OfferedCode:
    """The sender's side, after `offer_code`: the secret, and the room to leave later."""

    def __init__(self, secret: TransferSecret, client: SignalClient) -> None:
        self.secret = secret
        self._client = client

    async def release(self) -> None:
        """Leave the code's room: the receiver takes this as 'the sender is in place'."""
        await self._client.close()


async def offer_code(server_url: str, show: Callable[[SpokenCode, int], None],
                     randbytes: Callable[[int], bytes] = os.urandom) -> OfferedCode:
    """Sender: get a nameplate, show the code, run the exchange; the agreed secret."""
    # a room of its own, whose key nobody else learns: the nameplate admits the receiver
    client = await SignalClient.connect(server_url, randbytes(32), "sender", new_token())
    try:
        await client.hello()
        reply = await client.request({"action": "nameplate"})
        code = SpokenCode.generate(int(reply["nameplate"]), randbytes)
        expires_at = int(reply["expiresAt"])
        show(code, expires_at)
        handshake = CodeHandshake("sender", code, randbytes)
        deadline = time.monotonic() + max(1, expires_at - time.time())
        try:
            first = await _next_signal(client, "receiver", deadline)
        except TimeoutError:
            raise CodeExpiredError(
                f"nobody entered the code {code.nameplate}-… before it expired") from None
        try:
            await client.signal(handshake.answer(first))
            secret = handshake.verify(await _next_signal(client, "receiver",
                                                         time.monotonic() + 120))
        except WrongCodeError:
            await _abort(client, "receiver")
            raise
        except TimeoutError:
            raise PeerLeftExchangeError("the receiver stopped answering") from None
    except BaseException:
        await client.close()
        raise
    return OfferedCode(secret, client)


async def use_code(server_url: str, code: SpokenCode, timeout: float = 120.0) -> TransferSecret:
    """Receiver: join through the nameplate, run the exchange; the agreed secret, once the
    sender has moved on to the transfer's room."""
    try:
        client = await SignalClient.connect_nameplate(server_url, code.nameplate, new_token())
    except RoomRefusedError as exc:
        if exc.status == 404:
            raise UnknownCodeError(
                f"no sender is waiting on code number {code.nameplate}: it was used already, "
                "has expired, or was mistyped") from None
        raise
    try:
        welcome = await client.hello()
        if not any(p.role == "sender" for p in welcome.peers):
            raise PeerLeftExchangeError("the sender of this code has left")
        handshake = CodeHandshake("receiver", code)
        deadline = time.monotonic() + timeout
        await client.signal(handshake.start())
        try:
            confirm = handshake.finish(await _next_signal(client, "sender", deadline))
        except WrongCodeError:
            await _abort(client, "sender")
            raise
        await client.signal(confirm)
        # The sender checks our confirmation, joins the transfer's room, then leaves.
        try:
            await _next_signal(client, "sender", deadline)
        except PeerLeftExchangeError:
            assert handshake.secret is not None
            return handshake.secret
        raise WrongCodeError("the sender did not accept our confirmation")
    except TimeoutError:
        raise PeerLeftExchangeError("the sender stopped answering") from None
    finally:
        await client.close()
