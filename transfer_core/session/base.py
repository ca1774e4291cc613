"""What sender and receiver sessions share: the relay connection, ICE, and waiting."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable
from dataclasses import dataclass
from enum import Enum
from typing import Any, TypeVar

from ..protocol.keys import TransferKeys
from ..signalling.client import SignalClient, Welcome
from ..webrtc.ice import IceSettings
from .errors import PeerGoneError
from .machine import StateMachine
from .report import Reporter, SilentReporter
from .signals import SignalRouter

T = TypeVar("T")


@dataclass
class PeerOptions:
    """Settings both sides share; the defaults suit people, tests shorten the waits."""

    server_url: str
    """The signalling WebSocket URL."""
    local_only: bool = False
    """Gather and accept 127.0.0.1 candidates only (the local stack)."""
    connect_timeout: float = 15.0
    """Seconds for one attempt, from `ready` to an open channel."""
    reconnect_grace: float = 60.0
    """Seconds to wait for the other side to come back after a break."""
    p2p_timeout: float = 10.0
    """Sender: seconds from start for the receiver to be online and a channel open;
    after that the file goes to storage (S3) instead."""
    storage: bool = True
    """Fall back to storage (S3) when peer to peer does not work out."""


class PeerSession:
    """Connects to the relay, then hands a verified signal router to `_loop`."""

    role = ""

    def __init__(self, keys: TransferKeys, token: str, options: PeerOptions,
                 machine: StateMachine[Any], reporter: Reporter | None) -> None:
        self.keys = keys
        self.token = token
        self.options = options
        self.machine = machine
        self.reporter = reporter or SilentReporter()
        self.router: SignalRouter | None = None

    async def _connect(self) -> tuple[SignalClient, Welcome, IceSettings]:
        client = await SignalClient.connect(
            self.options.server_url, self.keys.room_key, self.role, self.token
        )
        try:
            welcome = await client.hello()
            servers = welcome.ice_servers
            if servers is None:  # an older relay: ask separately
                servers = await client.ice_servers()
        except BaseException:
            await client.close()
            raise
        return client, welcome, IceSettings(servers=servers, local_only=self.options.local_only)

    def _fail(self) -> None:
        """Record a failure, unless the session already ended (done, stored, failed)."""
        failed = type(self.machine.state)["FAILED"]
        if self.machine.can_move(failed):
            self.machine.move(failed)

    async def _race(self, awaitable: Awaitable[T], timeout: float | None = None,
                    late: str = "the other side did not answer in time") -> T:
        """Await `awaitable`, unless the router refuses a signal first (a possible MITM)."""
        assert self.router is not None
        task: asyncio.Future[Any] = asyncio.ensure_future(awaitable)
        refusal: asyncio.Future[Any] = asyncio.ensure_future(asyncio.shield(self.router.refusal))
        try:
            finished, _ = await asyncio.wait(
                {task, refusal}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED
            )
            if refusal in finished:
                raise refusal.result()
            if task in finished:
                result: T = task.result()
                return result
            raise PeerGoneError(late)
        finally:
            for pending in (task, refusal):
                if not pending.done():
                    pending.cancel()
                    with contextlib.suppress(asyncio.CancelledError, Exception):
                        await pending


def state_table(moves: dict[Enum, set[Enum]], failed: Enum) -> dict[Enum, frozenset[Enum]]:
    """A transition table in which every non-terminal state may also fail."""
    return {state: frozenset(targets | {failed}) for state, targets in moves.items()}
