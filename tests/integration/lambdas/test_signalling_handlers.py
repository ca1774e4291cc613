"""The three handlers end to end over moto (DynamoDB and the management API in-process)."""

from __future__ import annotations

import base64
import io
import json
import logging
import time

import pytest
from aws_lambda_powertools.utilities.parser.models import (
    APIGatewayWebSocketConnectEventModel,
    APIGatewayWebSocketDisconnectEventModel,
    APIGatewayWebSocketMessageEventModel,
)

from devstack import events as devstack_events
from lambdas.signalling.service import RATE_WINDOW_SECONDS
from transfer_core.protocol.room import room_id_for

from .conftest import load_event, within_one_rate_window

KEY = bytes(range(32))  # the fixture event's room key (Sec-WebSocket-Protocol)
ROOM = room_id_for(KEY)
OTHER_KEY = bytes(range(32, 64))
OTHER = room_id_for(OTHER_KEY)
TOKEN = "c2VjcmV0LXJlY29ubmVjdC10b2tlbg"


def test_event_fixtures_and_devstack_events_carry_every_field():
    APIGatewayWebSocketConnectEventModel.model_validate(load_event("websocket_connect.json"))
    APIGatewayWebSocketMessageEventModel.model_validate(load_event("websocket_message.json"))
    APIGatewayWebSocketDisconnectEventModel.model_validate(load_event("websocket_disconnect.json"))
    api = devstack_events.Api("127.0.0.1:9000", "local")
    peer = devstack_events.Peer("CfaK4cJyLPECJfQ=", 1732617075123, "127.0.0.1", "ua")
    APIGatewayWebSocketConnectEventModel.model_validate(
        devstack_events.connect_event(api, peer, [("Host", "x")], {"role": ["sender"]})
    )
    APIGatewayWebSocketMessageEventModel.model_validate(
        devstack_events.message_event(api, peer, "$default", '{"action":"ping"}')
    )
    APIGatewayWebSocketDisconnectEventModel.model_validate(
        devstack_events.disconnect_event(api, peer, 1000, "")
    )


def test_fixture_connect_is_admitted_and_stored(stack):
    event = load_event("websocket_connect.json")
    assert stack.connect_module.handler(event, stack.context("connect")) == {
        "statusCode": 200,
        "headers": {"Sec-WebSocket-Protocol": "sgraph-send.v2"},  # the version, never the key
    }
    items = {(i["pk"]["S"], i["sk"]["S"]): i for i in stack.items()}
    conn = items[("CONN#CfaK4cJyLPECJfQ=", "CONN")]
    assert conn["room_id"]["S"] == ROOM and conn["role"]["S"] == "sender"
    ttl = int(conn["ttl"]["N"]) - int(conn["connected_at"]["N"])
    assert ttl == 7200
    slot = items[(f"ROOM#{ROOM}", "SLOT#sender")]
    assert slot["connection_id"]["S"] == "CfaK4cJyLPECJfQ="
    # Neither the raw token nor the raw client address is stored anywhere.
    dump = json.dumps(stack.items(), default=repr)
    assert TOKEN not in dump and "203.0.113.7" not in dump
    # The room-index GSI lists the room's connections.
    found = stack.ddb.query(
        TableName="signalling-test",
        IndexName="room-index",
        KeyConditionExpression="room_id = :r",
        ExpressionAttributeValues={":r": {"S": ROOM}},
    )["Items"]
    assert [i["pk"]["S"] for i in found] == ["CONN#CfaK4cJyLPECJfQ="]


@pytest.mark.parametrize(
    "room,role,token,status",
    [
        ("nothex", "sender", None, 400),
        (f"sgraph-send.v2, sgraph-send.key.{ROOM}", "sender", None, 400),
        (KEY, "boss", None, 400),
        (KEY, "sender", "x", 400),
    ],
)
def test_connect_refuses_malformed_query(stack, room, role, token, status):
    response = stack.connect("A=", room, role, token)
    assert response["statusCode"] == status
    assert json.loads(response["body"])["code"] == "bad-request"
    assert stack.items() == [] or all(not i["pk"]["S"].startswith("CONN#") for i in stack.items())


def test_full_room_and_reconnect(stack):
    assert stack.connect("A1=", KEY, "sender", TOKEN)["statusCode"] == 200
    full = stack.connect("A2=", KEY, "sender", "another-token-22-chars")
    assert full["statusCode"] == 409 and json.loads(full["body"])["code"] == "room-full"
    assert stack.connect("A3=", KEY, "sender", TOKEN)["statusCode"] == 200
    slot = next(i for i in stack.items() if i["sk"]["S"] == "SLOT#sender")
    assert slot["connection_id"]["S"] == "A3="


def test_connect_rate_limit(stack):
    within_one_rate_window(window=RATE_WINDOW_SECONDS)
    for n in range(10):
        assert stack.connect(f"C{n}=", bytes([n]) * 32, "sender")["statusCode"] == 200
    refused = stack.connect("C10=", bytes([10]) * 32, "sender")
    assert refused["statusCode"] == 429
    assert stack.connect("D=", bytes([11]) * 32, "sender", ip="198.51.100.4")["statusCode"] == 200


def test_hello_signal_and_disconnect(stack, capsys):
    stack.connect("A=", KEY, "sender")
    stack.connect("B=", KEY, "receiver")
    stack.connect("X=", OTHER_KEY, "receiver")
    stack.send("A=", {"action": "hello", "ref": "1"}, route="hello")
    stack.send("B=", {"action": "hello"}, route="hello")
    assert stack.received("A=")[0]["type"] == "welcome"
    assert stack.received("A=")[1] == {
        "type": "peer-joined",
        "peer": {"id": "B=", "role": "receiver"},
    }
    # B was already connected when A said hello, so it hears of A before its own welcome.
    assert [m["type"] for m in stack.received("B=")] == ["peer-joined", "welcome"]
    assert stack.received("B=")[1]["peers"] == [{"id": "A=", "role": "sender"}]

    before = stack.runtime.repository.calls
    stack.send("A=", load_event("websocket_message.json")["body"], route="signal")
    # One read per relayed message: the instance read A's item at its hello, so the
    # room Query (which `signal` needs) alone proves A still holds its slot. The frame
    # count is written once per batch (MESSAGE_RATE_PER_MINUTE 20: every 2nd frame).
    assert stack.runtime.repository.calls - before == 2
    before = stack.runtime.repository.calls
    stack.send("A=", load_event("websocket_message.json")["body"], route="signal")
    assert stack.runtime.repository.calls - before == 1
    assert stack.received("B=")[-1] == {
        "type": "signal",
        "from": "A=",
        "role": "sender",
        "payload": {"kind": "offer", "sdp": "v=0\r\n"},
    }
    # Another room's peer cannot reach them.
    stack.send("X=", {"action": "signal", "payload": "hi", "to": "A="})
    assert stack.received("X=")[-1]["code"] == "not-in-room"
    assert all(m.get("payload") != "hi" for m in stack.received("A="))

    stack.disconnect("B=")
    assert stack.received("A=")[-1] == {
        "type": "peer-left",
        "peer": {"id": "B=", "role": "receiver"},
        "reason": "closed",
    }
    stack.disconnect("A=")
    stack.disconnect("X=")
    assert [i for i in stack.items() if i["pk"]["S"].startswith(("CONN#", "ROOM#"))] == []
    # Powertools metrics were emitted, including refusals by reason.
    emitted = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line]
    assert any("Relayed" in blob for blob in emitted)
    refused = [blob for blob in emitted if "Refused" in blob]
    assert refused and refused[0]["reason"] == "not-in-room"
    assert ["reason", "service"] in refused[0]["_aws"]["CloudWatchMetrics"][0]["Dimensions"] or [
        "service",
        "reason",
    ] in refused[0]["_aws"]["CloudWatchMetrics"][0]["Dimensions"]


@pytest.mark.parametrize(
    "body,code",
    [
        ("{not json", "bad-json"),
        ("[1,2]", "bad-json"),
        ('{"payload": 1}', "missing-field"),
        ('{"action": "dance"}', "unknown-action"),
        ('{"action": "signal"}', "missing-field"),
        ('{"action": "ping", "extra": 1}', "unexpected-field"),
        ('{"action": "signal", "payload": 1, "to": 5}', "invalid-field"),
        ('{"action": "signal", "payload": "' + "x" * 20000 + '"}', "payload-too-large"),
        ('{"action": "signal", "payload": NaN}', "bad-json"),
    ],
)
def test_bad_messages_get_their_error_and_the_connection_goes_on(stack, body, code):
    stack.connect("A=", KEY, "sender")
    stack.connect("B=", KEY, "receiver")
    assert stack.send("A=", body) == {"statusCode": 200}
    error = stack.received("A=")[-1]
    assert error["type"] == "error" and error["code"] == code
    assert "Traceback" not in error["message"] and "x" * 100 not in error["message"]
    stack.send("A=", {"action": "ping", "ref": "after"})
    assert stack.received("A=")[-1]["type"] == "pong"
    assert stack.received("A=")[-1]["ref"] == "after"


def test_error_echoes_ref(stack):
    stack.connect("A=", KEY, "sender")
    stack.send("A=", {"action": "ping", "ref": "r-7", "bogus": True})
    assert stack.received("A=")[-1]["ref"] == "r-7"


def test_message_rate_limit(stack):
    # the limit counts per fixed window: 21 messages sent across two windows prove
    # nothing, so they start early in one (a retry on a new connection as the room's
    # sender was refused as room-full while the first still held the slot)
    within_one_rate_window(window=RATE_WINDOW_SECONDS)
    window = time.time() // RATE_WINDOW_SECONDS
    stack.connect("A=", KEY, "sender")
    for _ in range(21):
        stack.send("A=", {"action": "ping"})
    assert time.time() // RATE_WINDOW_SECONDS == window
    assert stack.received("A=")[-1]["code"] == "rate-limited"
    assert [m["type"] for m in stack.received("A=")[:20]] == ["pong"] * 20


def test_ice_servers(stack):
    stack.connect("A=", KEY, "sender")
    stack.send("A=", {"action": "ice-servers"}, route="ice-servers")
    reply = stack.received("A=")[-1]
    stun, turn = reply["iceServers"]
    assert stun == {"urls": ["stun:stun.example.net:3478"]}
    assert turn["urls"] == [
        "turn:turn.example.net:3478?transport=udp",
        "turns:turn.example.net:5349",
    ]
    expiry, user = turn["username"].split(":")
    assert user == "A=" and int(expiry) == reply["expiresAt"]


def test_gone_target_is_removed_and_sender_told(stack, monkeypatch):
    stack.connect("A=", KEY, "sender")
    stack.connect("B=", KEY, "receiver")
    # moto's post_to_connection never raises GoneException: inject it for B's posts,
    # exactly as botocore raises it for an HTTP 410 from API Gateway.
    client = stack.runtime.gateways.for_event(load_event("websocket_message.json"))._client
    real_post = client.post_to_connection

    def post(ConnectionId: str, Data: bytes):  # noqa: N803 - botocore's parameter names
        if ConnectionId == "B=":
            raise client.exceptions.GoneException(
                {"Error": {"Code": "GoneException", "Message": "gone"}}, "PostToConnection"
            )
        return real_post(ConnectionId=ConnectionId, Data=Data)

    monkeypatch.setattr(client, "post_to_connection", post)
    # Within its admission grace a 410 only means "still connecting": B stays.
    stack.send("A=", {"action": "signal", "payload": {"candidate": "c"}})
    assert stack.received("A=")[-1]["code"] == "no-peer"
    assert any(i["sk"]["S"] == "SLOT#receiver#1" for i in stack.items())
    # B connected long ago (its slot says so): now a 410 means gone.
    stack.ddb.update_item(
        TableName="signalling-test",
        Key={"pk": {"S": f"ROOM#{ROOM}"}, "sk": {"S": "SLOT#receiver#1"}},
        UpdateExpression="SET connected_at = :old",
        ExpressionAttributeValues={":old": {"N": "0"}},
    )
    stack.send("A=", {"action": "signal", "payload": {"candidate": "c"}})
    told = stack.received("A=")
    assert told[-2] == {
        "type": "peer-left",
        "peer": {"id": "B=", "role": "receiver"},
        "reason": "gone",
    }
    assert told[-1]["code"] == "no-peer"
    keys = {(i["pk"]["S"], i["sk"]["S"]) for i in stack.items()}
    assert ("CONN#B=", "CONN") not in keys and (f"ROOM#{ROOM}", "SLOT#receiver#1") not in keys
    # The sender is untouched.
    assert ("CONN#A=", "CONN") in keys and (f"ROOM#{ROOM}", "SLOT#sender") in keys


def test_unexpected_failure_reports_internal_without_details(stack, monkeypatch):
    stack.connect("A=", KEY, "sender")

    def broken(*args, **kwargs):
        raise RuntimeError("secret detail /path/to/file.py")

    monkeypatch.setattr(stack.runtime.repository, "connection", broken)
    assert stack.send("A=", {"action": "ping"}) == {"statusCode": 200}
    error = stack.received("A=")[-1]
    assert error["code"] == "internal" and "secret" not in error["message"]


def test_the_room_key_reaches_no_log_line_and_no_item(stack):
    """Zero knowledge of the capability: the room key is presented at every connect, but
    no handler log line (at DEBUG), no refusal and no DynamoDB item ever holds it."""
    # Every line the handlers log, formatted by Powertools as in Lambda.
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.setFormatter(stack.runtime.logger.registered_formatter)
    for target in (logging.getLogger("lambdas"), logging.getLogger("transfer_core"),
                   logging.getLogger(stack.runtime.logger.name)):
        target.addHandler(handler)
        target.setLevel(logging.DEBUG)
    key_b64 = base64.urlsafe_b64encode(KEY).rstrip(b"=").decode()
    assert stack.connect("A=", KEY, "sender", TOKEN)["statusCode"] == 200
    assert stack.connect("B=", KEY, "receiver")["statusCode"] == 200
    assert stack.connect("C=", KEY, "receiver")["statusCode"] == 409  # refused: logged
    bad = stack.connect("D=", f"sgraph-send.v2, sgraph-send.key.{key_b64}x", "sender")
    assert bad["statusCode"] == 400 and key_b64 not in bad["body"]
    stack.send("A=", {"action": "hello"}, route="hello")
    stack.send("B=", {"action": "hello"}, route="hello")
    stack.send("A=", {"action": "signal", "payload": {"kind": "offer"}}, route="signal")
    stack.send("A=", "{not json")
    items = json.dumps(stack.items())
    stack.disconnect("B=")
    stack.disconnect("A=")
    lines = buffer.getvalue()
    for target in (logging.getLogger("lambdas"), logging.getLogger("transfer_core"),
                   logging.getLogger(stack.runtime.logger.name)):
        target.removeHandler(handler)
    assert '"message":"connected"' in lines and "connect refused" in lines  # we did look
    for form in (KEY.hex(), key_b64, KEY.hex().upper()):
        assert form not in lines, "the room key reached a log line"
        assert form not in items, "the room key reached DynamoDB"
    assert ROOM in items  # the room id is what the relay keeps


def test_the_domain_modules_log_through_powertools(stack):
    """`logging.getLogger(__name__)` lines of lambdas/ and transfer_core/ get Powertools'
    structured (JSON, with the invocation's context) handler, not the root logger's."""
    from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter

    for name in ("lambdas", "transfer_core"):
        configured = logging.getLogger(name)
        assert configured.handlers and not configured.propagate, name
        # (under pytest, its capture handlers ride along with Powertools' own)
        assert any(isinstance(h.formatter, LambdaPowertoolsFormatter)
                   for h in configured.handlers), name
