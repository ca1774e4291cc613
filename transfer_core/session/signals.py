"""Routes the relay's events to the current connection attempt, verifying every signal.

One `SignalRouter` per session. Each connection attempt is an `Attempt` (our fresh
nonce, the peer's nonce, an inbox); the router delivers a verified message to the
attempt it answers, drops messages answering one of our *earlier* attempts (stale,
harmless), and refuses anything else: a forged MAC, or a reply to a nonce we never
made (a replay from another session).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

from ..signalling.client import (
    PeerJoined,
    PeerLeft,
    RelayClosed,
    ServerError,
    SignalClient,
    SignalReceived,
)
from ..signalling.envelope import ReplayedSignalError, SignalError, SignedMessage, new_nonce

logger = logging.getLogger(__name__)

__all__ = ["Attempt", "Ready", "SignalRouter"]


def _other(role: str) -> str:
    return "receiver" if role == "sender" else "sender"


@dataclass(frozen=True)
class Ready:
    """A receiver announced a fresh session: the sender may offer to it."""

    peer_id: str
    nonce: str
    who: str = ""
    """The receiver's name (`session.receipt.receiver_id`), stable across its reconnects;
    empty from a client that does not name itself."""


@dataclass
class Attempt:
    """One connection attempt; implements the WebRTC layer's `SdpExchange`."""

    router: SignalRouter
    peer_id: str
    nonce: str = field(default_factory=new_nonce)
    peer_nonce: str = ""
    inbox: asyncio.Queue[SignedMessage] = field(default_factory=asyncio.Queue)

    async def send_description(self, sdp: str, kind: str) -> None:
        await self.router.send(self, kind, sdp)

    async def receive_description(self, kind: str) -> str:
        while True:
            message = await self.inbox.get()
            if message.kind == kind:
                if not self.peer_nonce:
                    self.peer_nonce = message.nonce
                return message.data

    async def remote_candidates(self) -> AsyncIterator[str | None]:
        # aiortc peers put every candidate in their SDP; browsers trickle them (#7).
        while True:
            message = await self.inbox.get()
            if message.kind == "candidate":
                yield message.data or None


def _is_receipt(payload: object) -> bool:
    return isinstance(payload, dict) and payload.get("kind") == "receipt"


class SignalRouter:
    """Reads the relay's events for a session; the session asks it for what it needs."""

    def __init__(self, client: SignalClient, signal_key: bytes, role: str) -> None:
        self.client = client
        self._key = signal_key
        self.role = role
        self.peer_role = _other(role)
        self.readies: asyncio.Queue[Ready] = asyncio.Queue()
        self.departures: asyncio.Queue[PeerLeft | RelayClosed] = asyncio.Queue()
        self.arrivals: asyncio.Queue[PeerJoined] = asyncio.Queue()
        self.relay_up = asyncio.Event()
        """Clear while the relay connection is lost (a working channel carries on)."""
        self.relay_up.set()
        self.storing = asyncio.Event()
        """Set by the sender's signed `bye` ("storage"): it is storing the file for us."""
        self.receipts: asyncio.Queue[SignalReceived] = asyncio.Queue()
        """Receivers' receipts, unverified (the session checks them: session.receipt)."""
        self.refusal: asyncio.Future[SignalError] = asyncio.get_running_loop().create_future()
        self.on_arrival: Callable[[PeerJoined], None] | None = None
        """Called with each `peer-joined` as it arrives (the sender prepares an offer)."""
        # one current attempt per peer: a sender serving several receivers (#15) runs
        # one attempt with each; a receiver has one sender, so a new attempt spends all
        self._attempts: dict[str, Attempt] = {}
        self._ahead: Attempt | None = None
        """A receiver's attempt whose `ready` left before it knew the sender's id."""
        self.ahead_lost = False
        """The relay answered `no-peer` while that `ready` was the only signal out (the
        sender joined just after it): a new attempt must ask again."""
        self._spent: set[str] = set()
        self._task = asyncio.create_task(self._run())

    def attempt(self, peer_id: str, peer_nonce: str = "") -> Attempt:
        """Begin a new attempt; messages for earlier ones (with this peer, or with any
        peer on the receiving side) are dropped from now on."""
        if self.role == "receiver":
            self._spend_all()
        elif (earlier := self._attempts.pop(peer_id, None)) is not None:
            self._spent.add(earlier.nonce)
        attempt = self._attempts[peer_id] = Attempt(self, peer_id, peer_nonce=peer_nonce)
        return attempt

    def attempt_ahead(self) -> Attempt:
        """A receiver's first attempt, begun before its `welcome` names the sender (its
        `ready` goes without `to`: the relay hands it to the room's sender only). It is
        bound to a peer by `adopt`, or by the first verified reply to its nonce (the
        offer may come before the `welcome`)."""
        self._spend_all()
        self._ahead = Attempt(self, "")
        return self._ahead

    def adopt(self, attempt: Attempt, peer_id: str) -> Attempt:
        """Route `peer_id`'s signals to `attempt` (from `attempt_ahead`) from now on;
        one already bound by a reply keeps its peer."""
        if self._ahead is attempt:
            self._ahead = None
        if not attempt.peer_id:
            attempt.peer_id = peer_id
        self._attempts[attempt.peer_id] = attempt
        return attempt

    def _spend_all(self) -> None:
        for peer in list(self._attempts):
            self._spent.add(self._attempts.pop(peer).nonce)
        if self._ahead is not None:
            self._spent.add(self._ahead.nonce)
            self._ahead = None

    def forget(self, peer_ids: set[str]) -> None:
        """Spend the attempts with peers that are gone (a receiver back with a new id)."""
        for peer in peer_ids:
            if (earlier := self._attempts.pop(peer, None)) is not None:
                self._spent.add(earlier.nonce)

    async def send(self, attempt: Attempt, kind: str, data: str = "") -> None:
        message = SignedMessage(kind, self.role, attempt.nonce, attempt.peer_nonce, data)
        await self.client.signal(message.to_payload(self._key), to=attempt.peer_id or None)

    def rebind(self, client: SignalClient) -> None:
        """Read a new relay connection (after the last one was lost); attempts carry on."""
        self._task.cancel()
        self.client = client
        self.relay_up.set()
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        async for event in self.client.iter_events():
            if isinstance(event, RelayClosed):
                self.relay_up.clear()
            if isinstance(event, SignalReceived) and _is_receipt(event.payload):
                # verified by the session against its manifest; a forged one is refused
                # there, and cannot stop a transfer (it is no signal of a connection)
                if self.role == "sender":
                    self.receipts.put_nowait(event)
            elif isinstance(event, SignalReceived) and event.sender.role == self.role:
                # another receiver's, from a relay older than Revision 2.3 (it handed a
                # receiver's signal without `to` to every peer): not for us, and no attack
                logger.debug("dropped a signal from another %s", self.role)
            elif isinstance(event, SignalReceived):
                try:
                    self._route(event)
                except SignalError as exc:
                    logger.warning("refused a signalling message: %s", exc)
                    if not self.refusal.done():
                        self.refusal.set_result(exc)
            elif isinstance(event, PeerLeft | RelayClosed):
                self.departures.put_nowait(event)
            elif isinstance(event, PeerJoined):
                self.arrivals.put_nowait(event)
                if self.on_arrival is not None:
                    self.on_arrival(event)
            elif isinstance(event, ServerError):
                if event.code == "no-peer" and self._ahead is not None:
                    self.ahead_lost = True
                logger.info("relay: %s (%s)", event.message, event.code)

    def _route(self, event: SignalReceived) -> None:
        message = SignedMessage.from_payload(event.payload, self._key, author=self.peer_role)
        if message.kind == "ready":
            self.readies.put_nowait(Ready(event.sender.id, message.nonce, message.data))
            return
        if message.kind == "bye":
            # authentic (MAC) but not tied to an attempt: at worst a replayed bye makes
            # a receiver look in storage early, which it would do after the grace anyway
            if message.data == "storage":
                self.storing.set()
            return
        current = self._attempts.get(event.sender.id)
        if (current is None and self._ahead is not None
                and message.reply_to == self._ahead.nonce):
            current = self.adopt(self._ahead, event.sender.id)  # before our `welcome`
        if message.reply_to in self._spent:
            logger.debug("dropped a %s for an earlier attempt", message.kind)
            return
        if current is None:
            logger.debug("dropped a %s nobody waits for", message.kind)
            return
        message.answering(current.nonce)  # anything else is a replay: refused
        if current.peer_nonce and message.nonce != current.peer_nonce:
            raise ReplayedSignalError(f"a {message.kind} from another session of the peer; refused")
        current.inbox.put_nowait(message)

    async def close(self) -> None:
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await self._task
