"""Nameplates through the real handlers and DynamoDB (moto): a spoken code's admission path."""

from __future__ import annotations

import copy

from lambdas.signalling.nameplates import RATE_WINDOW_SECONDS
from transfer_core.protocol.room import SUBPROTOCOL, room_id_for

from .conftest import load_event, within_one_rate_window

ROOM_KEY = bytes(range(32))
ROOM = room_id_for(ROOM_KEY)


def connect_query(stack, cid: str, query: dict[str, str], ip: str = "203.0.113.9"):
    event = copy.deepcopy(load_event("websocket_connect.json"))
    event["requestContext"]["connectionId"] = cid
    event["requestContext"]["identity"]["sourceIp"] = ip
    # a nameplate is the capability: the client offers the protocol version alone
    event["headers"]["Sec-WebSocket-Protocol"] = SUBPROTOCOL
    event["multiValueHeaders"]["Sec-WebSocket-Protocol"] = [SUBPROTOCOL]
    event["queryStringParameters"] = query
    event["multiValueQueryStringParameters"] = {k: [v] for k, v in query.items()}
    return stack.connect_module.handler(event, stack.context("connect"))


def test_sender_allocates_receiver_joins_by_number_once(stack):
    assert stack.connect("S=", ROOM_KEY, "sender")["statusCode"] == 200
    stack.send("S=", {"action": "nameplate", "ref": "n"})
    reply = stack.received("S=")[-1]
    assert reply["type"] == "nameplate" and reply["ref"] == "n"
    number = reply["nameplate"]
    assert 1 <= number <= 9 and reply["expiresAt"] > 0
    assert any(i["pk"]["S"] == f"NAMEPLATE#{number}" for i in stack.items())

    joined = connect_query(stack, "R=", {"nameplate": str(number), "role": "receiver"})
    assert joined["statusCode"] == 200
    stack.send("R=", {"action": "hello"})
    welcome = stack.received("R=")[-1]
    assert welcome["type"] == "welcome" and welcome["room"] == ROOM
    assert [p["role"] for p in welcome["peers"]] == ["sender"]
    assert not any(i["pk"]["S"].startswith("NAMEPLATE#") for i in stack.items())

    again = connect_query(stack, "X=", {"nameplate": str(number), "role": "receiver"})
    assert again["statusCode"] == 404 and "unknown-nameplate" in again["body"]


def test_receiver_cannot_allocate_and_bad_nameplate_queries_are_refused(stack):
    stack.connect("S=", ROOM_KEY, "sender")
    stack.connect("R=", ROOM_KEY, "receiver")
    stack.send("R=", {"action": "nameplate"})
    assert stack.received("R=")[-1]["code"] == "forbidden"
    for query in ({"nameplate": "x", "role": "receiver"},
                  {"nameplate": "5", "role": "sender"},
                  {"nameplate": "5", "role": "receiver", "room": ROOM}):
        assert connect_query(stack, "Y=", query)["statusCode"] == 400


def test_nameplate_claims_are_rate_limited_per_address(stack):
    within_one_rate_window(window=RATE_WINDOW_SECONDS)
    statuses = [connect_query(stack, f"G{i}=", {"nameplate": str(100 + i), "role": "receiver"},
                              ip="198.51.100.1")["statusCode"] for i in range(12)]
    assert statuses[:10] == [404] * 10 and statuses[10:] == [429, 429]
