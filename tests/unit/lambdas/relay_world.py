"""What the relay's unit tests share: two rooms' credentials, a settable clock, and the
calls that drive one action through `dispatch` and read the caller's last reply."""

from __future__ import annotations

import json

from lambdas.signalling.memory import RecordingGateway
from lambdas.signalling.messages import parse_message
from lambdas.signalling.relay_api import dispatch
from lambdas.signalling.service import SignallingService
from transfer_core.protocol.room import offer, room_id_for

CRED = ", ".join(offer(bytes(range(32))))
"""The Sec-WebSocket-Protocol header a v2 client of the room of key 00..1f sends."""
ROOM = room_id_for(bytes(range(32)))
OTHER_CRED = ", ".join(offer(b"\xff" * 32))
OTHER = room_id_for(b"\xff" * 32)
NOW = 1_700_000_000.0
DAY = 86400


class Clock:
    """Epoch seconds that a test moves by hand."""

    def __init__(self, now: float = NOW) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def call(svc: SignallingService, cid: str, body: dict):
    return dispatch(svc, cid, parse_message(json.dumps(body)))


def last(gateway: RecordingGateway, cid: str) -> dict:
    return json.loads(gateway.to(cid)[-1])


def join_three(svc: SignallingService) -> None:
    """A sender `S` and a receiver `R` in ROOM, a sender `X` in OTHER."""
    svc.connect("S", CRED, "sender", "A" * 22, "10.0.0.1")
    svc.connect("R", CRED, "receiver", "B" * 22, "10.0.0.2")
    svc.connect("X", OTHER_CRED, "sender", "C" * 22, "10.0.0.3")
