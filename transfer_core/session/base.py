"""What sender and receiver sessions share: the relay connection, ICE, and waiting."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import Enum
from typing import Any, TypeVar

from ..errors import SGraphSendError
from ..protocol.keys import TransferKeys
from ..signalling.client import (
    PeerLeft,
    RelayClosed,
    SignalClient,
    SignallingUnavailableError,
    Welcome,
)
from ..signalling.control import TransferLimits, report_download
from ..timeouts import within
from ..transport.rate import RateLimit
from ..transport.webrtc import SILENCE_SECONDS
from ..webrtc.channel import DataPipe
from ..webrtc.ice import IceSettings, reachable_turn_first, selected_path
from ..webrtc.sctp_pmtu import PathMtu, path_mtu_of
from .errors import PeerGoneError
from .machine import StateMachine
from .receipt import ReceiptBox
from .report import Reporter, SilentReporter
from .signals import SignalRouter

T = TypeVar("T")
logger = logging.getLogger(__name__)
RELAY_RETRY_MAX_SECONDS = 5.0
RELAY_CHECK_SECONDS = 15.0
"""After a break, a relay that does not answer a ping this fast is reconnected. Generous:
a slow relay is not a dead one, and a needless reconnect can miss a signal (a sender's
turn to storage); a dead socket usually reports itself closed at once."""
TURN_EXPIRY_MARGIN_SECONDS = 30.0
"""A connection attempt asks for fresh TURN credentials when the ones it holds expire
within this margin (coturn refuses a new allocation with expired ones)."""


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
    relay_only: bool = False
    """Privacy: use TURN-relayed candidates only, so the other peer never learns this
    side's addresses (needs a TURN server among the relay's ICE servers)."""
    silence_timeout: float = SILENCE_SECONDS
    """Seconds without a word from the other side (its heartbeat included) after which an
    open channel is given up; the reconnect grace counts from that last word."""
    limit_rate: int | None = None
    """Bytes per second this side sends or takes peer to peer (`--limit-rate`); None:
    as fast as the path goes."""
    limits: TransferLimits | None = None
    """Sender: `--downloads` / `--expires` of the stored transfer, told to the relay on
    joining (signalling/control.py)."""


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
        self.joined = asyncio.Event()
        """Set once this side is in its room (a spoken-code exchange waits for it)."""
        self.route: str | None = None
        """The candidate pair types of the last open channel (`TransferSummary.route`)."""
        self._path_mtu: PathMtu | None = None
        self._relay_task: asyncio.Task[None] | None = None
        self.pace = RateLimit(options.limit_rate) if options.limit_rate else None
        """One rate limit for every connection of this session."""

    async def _connect(
        self, first: Callable[[SignalClient], Awaitable[None]] | None = None,
    ) -> tuple[SignalClient, Welcome, IceSettings]:
        """Join the room; `first(client)` sends what follows the `hello` without waiting
        for its `welcome` (the receiver's `ready`: protocol.md Revision 2.3, #14)."""
        client = await SignalClient.connect(
            self.options.server_url, self.keys.room_key, self.role, self.token
        )
        try:
            welcome = await client.hello(None if first is None else lambda: first(client))
            servers = welcome.ice_servers
            if servers is None:  # an older relay: ask separately
                servers = await client.ice_servers()
        except BaseException:
            await client.close()
            raise
        self.joined.set()
        ice = IceSettings(servers=servers, local_only=self.options.local_only,
                          relay_only=self.options.relay_only)
        return client, welcome, await reachable_turn_first(ice)

    async def _ice_for_attempt(self, ice: IceSettings) -> IceSettings:
        """`ice`, or the same with fresh TURN credentials (and the TURN transport chosen
        again) when those it holds have expired: a reconnect long after the start must
        not offer coturn a stale credential (docs/networking.md §7)."""
        if not ice.turn_expired(margin=TURN_EXPIRY_MARGIN_SECONDS) or self.router is None:
            return ice
        try:
            servers = await self.router.client.ice_servers()
        except (SGraphSendError, OSError, TimeoutError) as exc:
            logger.info("could not renew the TURN credentials: %s", exc)
            return ice
        logger.info("renewed the TURN credentials for a new connection")
        return await reachable_turn_first(ice.with_servers(servers))

    @property
    def packet_size(self) -> int | None:
        """The SCTP packet size this peer sends in on the last open channel (its path-MTU
        search may still raise it); None before a channel opened."""
        return self._path_mtu.packet_size if self._path_mtu is not None else None

    def _note_route(self, pipe: DataPipe) -> None:
        """Remember (and tell) which candidate pair the new channel runs over."""
        self._path_mtu = path_mtu_of(pipe.peer_connection.sctp)
        path = selected_path(pipe.peer_connection)
        if path is not None:
            self.route = path.label
            via = "through a TURN relay" if path.relayed else "directly"
            self.reporter.status(f"connected {via} ({path.label})")

    # --- the relay, lost and found again ---------------------------------------------
    # Once the data channel is open a transfer needs no signalling: a lost relay is
    # reconnected in the background while the channel carries on; only the other
    # side's own departure (the relay's peer-left) stops a transfer.

    async def _peer_left(self) -> PeerLeft:
        """The other side's next departure, as the relay reports it."""
        assert self.router is not None
        while True:
            event = await self.router.departures.get()
            if isinstance(event, RelayClosed):
                self._relay_lost()
            elif event.peer.role == self.router.peer_role:
                return event

    def _relay_lost(self) -> None:
        if self._relay_task is None or self._relay_task.done():
            logger.info("lost the relay connection; reconnecting in the background")
            self._relay_task = asyncio.create_task(self._reconnect_relay())

    async def _ensure_relay(self) -> None:
        """After a break, make sure the relay connection still carries messages before
        relying on it. A router whose address changed leaves a WebSocket that sends
        into the void: the ping finds it closed (or unanswered within
        `RELAY_CHECK_SECONDS`) and it is reconnected now (bounded by the reconnect grace)."""
        assert self.router is not None
        if self.router.relay_up.is_set():
            try:
                await self.router.client.request({"action": "ping"}, RELAY_CHECK_SECONDS)
                return
            except (SignallingUnavailableError, OSError) as exc:  # an error reply is alive
                logger.info("the relay connection is dead (%s); reconnecting", exc)
                self.router.relay_up.clear()
        self._relay_lost()
        with contextlib.suppress(TimeoutError):
            await within(self.router.relay_up.wait(), self.options.reconnect_grace)

    async def _reconnect_relay(self) -> None:
        assert self.router is not None
        delay = 0.25
        while not self.router.relay_up.is_set():
            await asyncio.sleep(delay)
            delay = min(delay * 2, RELAY_RETRY_MAX_SECONDS)
            try:
                client, _, _ = await self._connect()
            except (SGraphSendError, OSError) as exc:
                logger.debug("the relay is still unreachable: %s", exc)
                continue
            old = self.router.client
            self.router.rebind(client)
            await old.close()
            logger.info("reconnected to the relay")

    async def _relay_request(self, body: dict[str, Any], timeout: float = 30.0) -> dict[str, Any]:
        """A storage action on the current relay connection."""
        assert self.router is not None
        return await self.router.client.request(body, timeout)

    async def _report_direct(self, box: ReceiptBox) -> None:
        """A sender counts its direct deliveries against `--downloads`: those receivers
        read nothing stored and do not report themselves. Only when this sender set a
        download limit, so that a transfer without one costs the backend nothing more
        (#10 §6); a limit set by an earlier run (`send --resume`) is not known here."""
        limits = self.options.limits
        if limits is None or limits.downloads is None:
            return
        for _ in box.direct:
            await report_download(self._relay_request)

    async def _close_relay(self, first: SignalClient) -> None:
        if self._relay_task is not None:
            self._relay_task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._relay_task
        if self.router is not None:
            await self.router.close()
            if self.router.client is not first:
                await self.router.client.close()
        await first.close()

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
