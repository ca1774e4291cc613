"""A WebSocket client of the signalling relay (docs/signalling.md).

It knows the relay's messages and nothing of WebRTC; sessions read its events and
route verified signals to the current connection attempt.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import websockets

# `websockets.connect` is imported on its first use (websockets' lazy names): about 20 ms
# of modules, which a peer's setup then waited for before it could open the relay
# connection. Loaded with this module, it is part of the start-up's imports (#14).
import websockets.asyncio.client  # noqa: F401
from websockets.exceptions import ConnectionClosed, InvalidStatus, InvalidURI

from ..errors import SGraphSendError
from ..protocol.room import SUBPROTOCOL, offer
from ..timeouts import within

logger = logging.getLogger(__name__)

__all__ = [
    "PeerJoined",
    "PeerLeft",
    "RelayClosed",
    "RelayError",
    "RoomRefusedError",
    "ServerError",
    "SignalClient",
    "SignalReceived",
    "SignallingUnavailableError",
]


class SignallingUnavailableError(SGraphSendError):
    """The signalling server cannot be reached."""


class RoomRefusedError(SGraphSendError):
    """The relay refused to admit us to the room (full, rate limited, malformed)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class RelayError(SGraphSendError):
    """The relay answered a request of ours with an error."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{message} ({code})")
        self.code = code


@dataclass(frozen=True)
class Peer:
    """Another connection in the room."""

    id: str
    role: str


@dataclass(frozen=True)
class Welcome:
    """Who we are, and who is already in the room."""

    id: str
    role: str
    peers: tuple[Peer, ...]
    limits: dict[str, int] = field(default_factory=dict)
    ice_servers: list[dict[str, Any]] | None = None
    """STUN/TURN servers, when the relay sends them with the welcome (this relay does)."""


@dataclass(frozen=True)
class PeerJoined:
    peer: Peer


@dataclass(frozen=True)
class PeerLeft:
    peer: Peer
    reason: str


@dataclass(frozen=True)
class SignalReceived:
    """An opaque payload forwarded from a peer (verified by the session, not here)."""

    sender: Peer
    payload: Any


@dataclass(frozen=True)
class ServerError:
    """An error the relay told us about, not tied to a request we are waiting on."""

    code: str
    message: str


@dataclass(frozen=True)
class RelayClosed:
    """Our WebSocket to the relay closed."""

    reason: str


Event = PeerJoined | PeerLeft | SignalReceived | ServerError | RelayClosed

_REFUSALS = {
    400: "the relay refused the room key or role (is the link complete? is the relay"
         " on protocol version 2?)",
    403: "the relay refused the connection",
    404: "no sender is waiting on this code's number (used, expired or mistyped)",
    409: "someone else already holds this role in the room",
    # the connect rate and the open-connection cap per address (signalling.md §3)
    429: "too many connections from here (opened this minute, or open at once); close one"
         " or wait a minute and try again",
}


def new_token() -> str:
    """A reconnect token: lets us take our slot back after a dropped connection."""
    return base64.urlsafe_b64encode(os.urandom(24)).rstrip(b"=").decode()


class SignalClient:
    """One WebSocket connection to the relay, in one room, with one role."""

    def __init__(self, ws: Any, role: str) -> None:
        self._ws = ws
        self.role = role
        self.events: asyncio.Queue[Event] = asyncio.Queue()
        self._pending: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._refs = 0
        self._reader = asyncio.create_task(self._read())

    @classmethod
    async def connect(
        cls, url: str, room_key: bytes, role: str, token: str, timeout: float = 10.0
    ) -> SignalClient:
        """Open the relay WebSocket and join the room of `room_key` (the link's capability).

        The room key travels in the `Sec-WebSocket-Protocol` header (protocol.room),
        never in the URL, which proxies and access logs may keep.
        """
        return await cls._open(url, {"role": role, "token": token}, role, offer(room_key),
                               timeout)

    @classmethod
    async def connect_nameplate(
        cls, url: str, nameplate: int, token: str, timeout: float = 10.0
    ) -> SignalClient:
        """Join the room a spoken code's nameplate names, as its receiver (uses it up).

        The nameplate is the capability: only the protocol version is offered."""
        query = {"nameplate": str(nameplate), "role": "receiver", "token": token}
        return await cls._open(url, query, "receiver", [SUBPROTOCOL], timeout)

    @classmethod
    async def _open(
        cls, url: str, params: dict[str, str], role: str, subprotocols: list[str],
        timeout: float
    ) -> SignalClient:
        query = urlencode(params)
        uri = f"{url}{'&' if '?' in url else '?'}{query}"
        try:
            ws = await within(
                websockets.connect(
                    uri, max_size=128 * 1024, ping_interval=None,
                    subprotocols=subprotocols,  # type: ignore[arg-type]
                ),
                timeout,
            )
        except InvalidStatus as exc:
            status = exc.response.status_code
            reason = _REFUSALS.get(status, f"the relay refused us (HTTP {status})")
            if status == 409 and role == "receiver":
                reason = ("this link already has all the receivers it takes (every receiver"
                          " slot is in use: the relay's maxReceivers)")
            raise RoomRefusedError(status, reason) from None
        except (OSError, TimeoutError, InvalidURI) as exc:
            raise SignallingUnavailableError(
                f"cannot reach the signalling server at {url}: {exc}"
            ) from None
        return cls(ws, role)

    async def _read(self) -> None:
        reason = "closed"
        try:
            async for raw in self._ws:
                self._dispatch(raw)
        except ConnectionClosed as exc:
            reason = f"closed ({exc.rcvd.code if exc.rcvd else 'no close frame'})"
        finally:
            for future in self._pending.values():
                if not future.done():
                    future.set_exception(SignallingUnavailableError("the relay connection closed"))
            self.events.put_nowait(RelayClosed(reason))

    def _dispatch(self, raw: str | bytes) -> None:
        try:
            msg = json.loads(raw)
            kind = msg["type"]
        except (ValueError, KeyError, TypeError):
            logger.warning("ignoring an unreadable relay message")
            return
        ref = msg.get("ref")
        if ref in self._pending:
            future = self._pending.pop(ref)
            if not future.done():
                future.set_result(msg)
            return
        if kind == "signal":
            self.events.put_nowait(SignalReceived(Peer(msg["from"], msg["role"]), msg["payload"]))
        elif kind == "peer-joined":
            self.events.put_nowait(PeerJoined(Peer(**msg["peer"])))
        elif kind == "peer-left":
            self.events.put_nowait(PeerLeft(Peer(**msg["peer"]), msg.get("reason", "")))
        elif kind == "error":
            self.events.put_nowait(ServerError(msg.get("code", ""), msg.get("message", "")))

    async def _request(self, body: dict[str, Any], timeout: float = 10.0,
                       then: Callable[[], Awaitable[None]] | None = None) -> dict[str, Any]:
        self._refs += 1
        ref = f"r{self._refs}"
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[ref] = future
        await self._send({**body, "ref": ref})
        if then is not None:  # sent while the reply travels
            try:
                await then()
            except BaseException:
                self._pending.pop(ref, None)
                raise
        try:
            reply = await within(future, timeout)
        except TimeoutError:
            self._pending.pop(ref, None)
            raise SignallingUnavailableError("the relay did not answer in time") from None
        if reply.get("type") == "error":
            raise RelayError(reply.get("code", ""), reply.get("message", ""))
        return reply

    async def _send(self, body: dict[str, Any]) -> None:
        try:
            await self._ws.send(json.dumps(body, separators=(",", ":")))
        except ConnectionClosed:
            raise SignallingUnavailableError("the relay connection closed") from None

    async def hello(self, then: Callable[[], Awaitable[None]] | None = None) -> Welcome:
        """Announce ourselves; learn our id and the peers already here.

        `then` runs once the `hello` is sent, before its `welcome` is back: what it sends
        follows the `hello` without waiting a round trip (a receiver's `ready`, #14)."""
        reply = await self._request({"action": "hello"}, then=then)
        return Welcome(
            reply["id"], reply["role"], tuple(Peer(**p) for p in reply["peers"]),
            reply.get("limits", {}), reply.get("iceServers"),
        )

    async def ice_servers(self) -> list[dict[str, Any]]:
        """STUN/TURN servers (TURN with time-limited credentials) from the backend."""
        reply = await self._request({"action": "ice-servers"})
        servers: list[dict[str, Any]] = reply["iceServers"]
        return servers

    async def request(self, body: dict[str, Any], timeout: float = 30.0) -> dict[str, Any]:
        """Send one action and await its direct reply (the storage actions); errors raise."""
        return await self._request(body, timeout)

    async def ping(self) -> None:
        await self._request({"action": "ping"})

    async def signal(self, payload: dict[str, Any], to: str | None = None) -> None:
        """Forward `payload` to a peer (or every other peer of the room)."""
        body: dict[str, Any] = {"action": "signal", "payload": payload}
        if to is not None:
            body["to"] = to
        await self._send(body)

    async def iter_events(self) -> AsyncIterator[Event]:
        while True:
            event = await self.events.get()
            yield event
            if isinstance(event, RelayClosed):
                return

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await self._ws.close()
        self._reader.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await self._reader
