"""A man in the middle for signalling: a real WebSocket proxy in front of the local stack
that can rewrite, record, replay or inject what the relay tells one client."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable
from typing import Any

import websockets
from websockets.asyncio.server import ServerConnection

Rewrite = Callable[[dict[str, Any]], list[dict[str, Any]]]


class TamperProxy:
    """Forwards client frames upstream as they are; passes relay frames through `rewrite`."""

    def __init__(self, upstream: str, rewrite: Rewrite) -> None:
        self.upstream = upstream.rstrip("/")
        self.rewrite = rewrite
        self.seen: list[dict[str, Any]] = []
        self._server: Any = None

    async def __aenter__(self) -> TamperProxy:
        # the client's version and room key pass through: a relay that swaps what it
        # forwards knows the room key anyway; what it cannot do is sign
        self._server = await websockets.serve(
            self._handle, "127.0.0.1", 0, select_subprotocol=lambda _, offered: offered[0]
        )
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._server.close()
        await self._server.wait_closed()

    @property
    def url(self) -> str:
        port = self._server.sockets[0].getsockname()[1]
        return f"ws://127.0.0.1:{port}"

    async def _handle(self, client: ServerConnection) -> None:
        query = client.request.path.split("?", 1)[1] if client.request else ""
        offered = client.request.headers.get_all("Sec-WebSocket-Protocol") if client.request else []
        protocols = [p.strip() for value in offered for p in value.split(",") if p.strip()]
        async with websockets.connect(
            f"{self.upstream}?{query}", subprotocols=protocols or None  # type: ignore[arg-type]
        ) as relay:
            async def up() -> None:
                async for frame in client:
                    await relay.send(frame)

            async def down() -> None:
                async for frame in relay:
                    message = json.loads(frame)
                    self.seen.append(message)
                    for out in self.rewrite(message):
                        await client.send(json.dumps(out))

            tasks = [asyncio.ensure_future(up()), asyncio.ensure_future(down())]
            with contextlib.suppress(Exception):
                await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            for task in tasks:
                task.cancel()


def kind(message: dict[str, Any]) -> str | None:
    """The signed envelope's kind of a forwarded signal, if it is one."""
    if message.get("type") != "signal":
        return None
    payload = message.get("payload")
    return payload.get("kind") if isinstance(payload, dict) else None
