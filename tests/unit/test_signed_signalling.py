"""Signed signalling envelopes and the router that refuses forgeries and replays."""

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from transfer_core.session.machine import InvalidTransitionError, StateMachine
from transfer_core.session.receiver import RECEIVER_MOVES, ReceiverState
from transfer_core.session.sender import SENDER_MOVES, SenderState
from transfer_core.session.signals import SignalRouter
from transfer_core.signalling.client import (
    Event,
    Peer,
    RelayClosed,
    ServerError,
    SignalReceived,
)
from transfer_core.signalling.envelope import (
    ForgedSignalError,
    MalformedSignalError,
    ReplayedSignalError,
    SignedMessage,
)

KEY = bytes(range(32))
SDP = "v=0\r\na=fingerprint:sha-256 AA:BB:CC\r\n"


def offer(reply_to="r" * 32, nonce="s" * 32, data=SDP, role="sender"):
    return SignedMessage("offer", role, nonce, reply_to, data)


def test_round_trip():
    payload = offer().to_payload(KEY)
    assert SignedMessage.from_payload(payload, KEY, author="sender") == offer()


def test_swapped_fingerprint_is_forgery():
    payload = offer().to_payload(KEY)
    payload["data"] = payload["data"].replace("AA:BB:CC", "DE:AD:00")
    with pytest.raises(ForgedSignalError, match="possible interception"):
        SignedMessage.from_payload(payload, KEY, author="sender")


@pytest.mark.parametrize("field", ["kind", "role", "nonce", "reply_to", "mac"])
def test_any_altered_field_is_forgery(field):
    payload = offer().to_payload(KEY)
    payload[field] = payload[field][:-1] + ("0" if payload[field][-1] != "0" else "1")
    with pytest.raises(ForgedSignalError):
        SignedMessage.from_payload(payload, KEY, author="sender")


def test_other_key_is_forgery():
    with pytest.raises(ForgedSignalError):
        SignedMessage.from_payload(offer().to_payload(bytes(32)), KEY, author="sender")


def test_reflected_message_is_refused():
    with pytest.raises(ReplayedSignalError):
        SignedMessage.from_payload(offer().to_payload(KEY), KEY, author="receiver")


@pytest.mark.parametrize("payload", [None, [], {"v": 2}, {"v": 1, "kind": 3}])
def test_malformed_payloads(payload):
    with pytest.raises(MalformedSignalError):
        SignedMessage.from_payload(payload, KEY, author="sender")


class RelayStandIn:
    """An in-memory stand-in for the relay connection: the router's logic is under test,
    not the network (the e2e tests drive the real relay). It has only the two methods
    the router calls, hence `type: ignore[arg-type]` where a router takes it."""

    def __init__(self) -> None:
        self.events: asyncio.Queue[Event] = asyncio.Queue()
        self.sent: list[tuple[dict[str, Any], str | None]] = []

    async def iter_events(self) -> AsyncIterator[Event]:
        while True:
            event = await self.events.get()
            yield event
            if isinstance(event, RelayClosed):
                return

    async def signal(self, payload: dict[str, Any], to: str | None = None) -> None:
        self.sent.append((payload, to))


async def test_router_delivers_answers_drops_stale_and_refuses_replays():
    relay = RelayStandIn()
    router = SignalRouter(relay, KEY, "receiver")  # type: ignore[arg-type]
    first = router.attempt("sender-1")
    await router.send(first, "ready")
    ready = SignedMessage.from_payload(relay.sent[0][0], KEY, author="receiver")
    assert ready.kind == "ready" and relay.sent[0][1] == "sender-1"

    second = router.attempt("sender-1")  # the first attempt is now spent
    stale = offer(reply_to=first.nonce).to_payload(KEY)
    relay.events.put_nowait(SignalReceived(Peer("sender-1", "sender"), stale))
    fresh = offer(reply_to=second.nonce, nonce="t" * 32).to_payload(KEY)
    relay.events.put_nowait(SignalReceived(Peer("sender-1", "sender"), fresh))
    assert await asyncio.wait_for(second.receive_description("offer"), 2) == SDP
    assert second.peer_nonce == "t" * 32
    assert not router.refusal.done()

    replay = offer(reply_to="f" * 32).to_payload(KEY)  # a nonce this process never made
    relay.events.put_nowait(SignalReceived(Peer("sender-1", "sender"), replay))
    refusal = await asyncio.wait_for(router.refusal, 2)
    assert isinstance(refusal, ReplayedSignalError)
    await router.close()


async def test_a_ready_sent_before_the_welcome_gets_its_offer_either_way():
    # protocol.md Revision 2.3 (#14): the receiver's first `ready` leaves before it
    # knows the sender's id, so without `to`; the offer may come before the `welcome`
    relay = RelayStandIn()
    router = SignalRouter(relay, KEY, "receiver")  # type: ignore[arg-type]
    ahead = router.attempt_ahead()
    await router.send(ahead, "ready")
    assert relay.sent[0][1] is None  # no `to`: the relay hands it to the sender only
    # another receiver's signal (a pre-2.3 relay fans a receiver's out to all): dropped,
    # not refused, even though it is no envelope we could verify
    relay.events.put_nowait(SignalReceived(Peer("rx-2", "receiver"), {"v": 1}))
    # the offer, before the welcome: it binds the attempt to its sender
    answer_to_ahead = offer(reply_to=ahead.nonce, nonce="t" * 32).to_payload(KEY)
    relay.events.put_nowait(SignalReceived(Peer("sender-1", "sender"), answer_to_ahead))
    assert await asyncio.wait_for(ahead.receive_description("offer"), 2) == SDP
    assert router.adopt(ahead, "sender-1") is ahead and ahead.peer_id == "sender-1"
    assert not router.refusal.done()
    await router.close()
    # after the welcome: adopted by id, and a new attempt spends it
    relay = RelayStandIn()
    later = SignalRouter(relay, KEY, "receiver")  # type: ignore[arg-type]
    early = later.attempt_ahead()
    later.adopt(early, "sender-1")
    fresh = offer(reply_to=early.nonce).to_payload(KEY)
    relay.events.put_nowait(SignalReceived(Peer("sender-1", "sender"), fresh))
    assert await asyncio.wait_for(early.receive_description("offer"), 2) == SDP
    again = later.attempt("sender-1")
    stale = offer(reply_to=early.nonce).to_payload(KEY)
    relay.events.put_nowait(SignalReceived(Peer("sender-1", "sender"), stale))
    relay.events.put_nowait(SignalReceived(Peer("sender-1", "sender"),
                                           offer(reply_to=again.nonce).to_payload(KEY)))
    assert await asyncio.wait_for(again.receive_description("offer"), 2) == SDP
    assert not later.refusal.done()
    assert not later.ahead_lost
    await later.close()
    # the relay found nobody for that `ready` (the sender joined right after it)
    relay = RelayStandIn()
    lost = SignalRouter(relay, KEY, "receiver")  # type: ignore[arg-type]
    await lost.send(lost.attempt_ahead(), "ready")
    relay.events.put_nowait(ServerError("no-peer", "There is nobody else in your room."))
    relay.events.put_nowait(RelayClosed("closed"))
    await asyncio.wait_for(lost.departures.get(), 2)
    assert lost.ahead_lost
    await lost.close()


async def test_router_refuses_forgery():
    relay = RelayStandIn()
    router = SignalRouter(relay, KEY, "sender")  # type: ignore[arg-type]
    payload = SignedMessage("ready", "receiver", "r" * 32).to_payload(bytes(32))
    relay.events.put_nowait(SignalReceived(Peer("rx", "receiver"), payload))
    assert isinstance(await asyncio.wait_for(router.refusal, 2), ForgedSignalError)
    assert router.readies.empty()
    await router.close()


def test_state_tables_allow_the_documented_paths_only():
    sender = StateMachine("s", SenderState.WAITING, SENDER_MOVES)
    seen = []
    sender.on_change(lambda old, new: seen.append((old, new)))
    for state in ("CONNECTING", "TRANSFERRING", "RECONNECTING", "WAITING", "CONNECTING",
                  "TRANSFERRING", "DONE"):
        sender.move(SenderState[state])
    assert seen[-1] == (SenderState.TRANSFERRING, SenderState.DONE)
    with pytest.raises(InvalidTransitionError):
        sender.move(SenderState.WAITING)  # DONE is terminal
    receiver = StateMachine("r", ReceiverState.JOINING, RECEIVER_MOVES)
    with pytest.raises(InvalidTransitionError):
        receiver.move(ReceiverState.DONE)  # never done without verifying
    receiver.move(ReceiverState.FAILED)
