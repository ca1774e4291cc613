"""A test-harness `SdpExchange` over a `multiprocessing` pipe, for peers in two processes.

It carries descriptions and candidates as they are, unsigned: it stands in for the
signalling client in tests and benchmarks only. Create the pipe in the parent
(`multiprocessing.get_context("spawn").Pipe()`), give one end to each peer process,
and wrap it there with `PipeExchange(end)` inside the running event loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from multiprocessing.connection import Connection

from .errors import WebRTCError


class PipeExchange:
    """`SdpExchange` over one end of a `multiprocessing.Pipe` (duplex)."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn
        self._loop = asyncio.get_running_loop()
        self._descriptions: dict[str, asyncio.Future[str]] = {}
        self._candidates: asyncio.Queue[str | None] = asyncio.Queue()
        self._eof = False
        self._loop.add_reader(conn.fileno(), self._on_readable)

    def _future(self, kind: str) -> asyncio.Future[str]:
        if kind not in self._descriptions:
            self._descriptions[kind] = self._loop.create_future()
        return self._descriptions[kind]

    def _on_readable(self) -> None:
        try:
            while self._conn.poll():
                tag, payload = self._conn.recv()
                if tag == "candidate":
                    self._candidates.put_nowait(payload)
                else:
                    future = self._future(tag)
                    if not future.done():
                        future.set_result(payload)
        except (EOFError, OSError):
            self._stop_reading()
            for future in self._descriptions.values():
                if not future.done():
                    future.set_exception(WebRTCError("the peer's signalling pipe closed"))

    def _stop_reading(self) -> None:
        if not self._eof:
            self._eof = True
            self._loop.remove_reader(self._conn.fileno())

    async def send_description(self, sdp: str, kind: str) -> None:
        """Send the local SDP to the peer process."""
        self._conn.send((kind, sdp))

    async def receive_description(self, kind: str) -> str:
        """The peer's SDP of this kind, as sent (nothing is verified here)."""
        if self._eof and not self._future(kind).done():
            raise WebRTCError("the peer's signalling pipe closed")
        return await self._future(kind)

    async def remote_candidates(self) -> AsyncIterator[str | None]:
        """Candidates the peer sent with `send_candidate`, then None at its end."""
        while True:
            candidate = await self._candidates.get()
            yield candidate
            if candidate is None:
                return

    def send_candidate(self, candidate: str | None) -> None:
        """Trickle one local candidate line to the peer (None: end of candidates)."""
        self._conn.send(("candidate", candidate))

    def close(self) -> None:
        """Stop watching the pipe (the pipe itself belongs to the caller)."""
        self._stop_reading()
