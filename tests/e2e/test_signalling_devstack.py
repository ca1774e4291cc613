"""Real WebSocket clients against the local gateway running the real handlers."""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from typing import Any

import boto3
import pytest
import pytest_asyncio
import websockets
from websockets.exceptions import ConnectionClosed, InvalidStatus

from devstack import DevStack
from lambdas.signalling.service import COUNT_BATCH, RATE_WINDOW_SECONDS
from transfer_core.protocol.room import SUBPROTOCOL, offer, room_id_for

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio(loop_scope="module")]

RATE = 30


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def stack():
    env = {"MESSAGE_RATE_PER_MINUTE": str(RATE), "CONNECT_RATE_PER_MINUTE": "10000"}
    async with DevStack.start(workers=WORKERS, env=env) as running:
        yield running


WORKERS = 2


class _AnyText(str):
    def __eq__(self, other: object) -> bool:
        return isinstance(other, str) and bool(other)

    __hash__ = str.__hash__


ANY_TEXT = _AnyText()


def room() -> bytes:
    """A fresh room key (what a link holder derives; the relay sees only its hash)."""
    return secrets.token_bytes(32)


class Client:
    """A thin test client speaking docs/signalling.md."""

    def __init__(self, ws: websockets.ClientConnection) -> None:
        self.ws = ws

    async def send(self, **message: Any) -> None:
        await self.ws.send(json.dumps(message))

    async def recv(self, timeout: float = 5.0) -> dict[str, Any]:
        return json.loads(await asyncio.wait_for(self.ws.recv(), timeout))

    async def nothing(self, wait: float = 0.3) -> None:
        try:
            frame = await asyncio.wait_for(self.ws.recv(), wait)
        except TimeoutError:
            return
        pytest.fail(f"no frame was due within {wait} s, and this one came: {frame!r}")

    async def hello(self) -> dict[str, Any]:
        await self.send(action="hello")
        while True:
            message = await self.recv()
            if message["type"] == "welcome":
                return message


async def open_client(stack: DevStack, room_key: bytes, role: str, token: str | None = None
                      ) -> Client:
    url = f"{stack.ws_url}?role={role}"
    if token:
        url += f"&token={token}"
    ws = await websockets.connect(url, max_size=None,
                                  subprotocols=offer(room_key))  # type: ignore[arg-type]
    assert ws.subprotocol == SUBPROTOCOL  # the 101 selects the version, never the key
    return Client(ws)


async def age_slot(stack: DevStack, room_key: bytes, slot: str) -> dict[str, Any]:
    """Make a slot's holder look long connected (past the 30 s admission grace)."""
    key = {"pk": {"S": f"ROOM#{room_id_for(room_key)}"}, "sk": {"S": f"SLOT#{slot}"}}
    await asyncio.to_thread(
        stack.client("dynamodb").update_item, TableName=stack.moto.table_name, Key=key,
        UpdateExpression="SET connected_at = :old", ExpressionAttributeValues={":old": {"N": "0"}},
    )
    return key


async def connection_items(stack: DevStack) -> list[dict[str, Any]]:
    items = await asyncio.to_thread(stack.table_items)
    return [i for i in items if i["pk"]["S"].startswith(("CONN#", "ROOM#"))]


async def wait_until_no_connection_items(stack: DevStack) -> list[dict[str, Any]]:
    for _ in range(200):  # $disconnect runs after the close; a loaded machine is slow
        left = await connection_items(stack)
        if not left:
            return left
        await asyncio.sleep(0.1)
    return left


async def test_two_peers_meet_exchange_and_leave_no_trace(stack):
    r = room()
    a = await open_client(stack, r, "sender")
    welcome_a = await a.hello()
    assert welcome_a["peers"] == [] and welcome_a["role"] == "sender"
    assert welcome_a["room"] == room_id_for(r)
    b = await open_client(stack, r, "receiver")
    welcome_b = await b.hello()
    assert welcome_b["peers"] == [{"id": welcome_a["id"], "role": "sender"}]
    assert await a.recv() == {
        "type": "peer-joined",
        "peer": {"id": welcome_b["id"], "role": "receiver"},
    }

    await a.send(action="signal", payload={"type": "offer", "sdp": "v=0\r\n"})
    assert await b.recv() == {
        "type": "signal",
        "from": welcome_a["id"],
        "role": "sender",
        "payload": {"type": "offer", "sdp": "v=0\r\n"},
    }
    await b.send(action="signal", payload={"type": "answer"}, to=welcome_a["id"])
    got = await a.recv()
    assert got["from"] == welcome_b["id"] and got["payload"] == {"type": "answer"}

    # The gateway recorded both frames, byte for byte.
    ins = [r.data for r in stack.relayed if r.direction == "in"]
    assert b'{"action": "signal", "payload": {"type": "offer", "sdp": "v=0\\r\\n"}}' in ins

    await b.ws.close()
    left = await a.recv()
    assert left == {
        "type": "peer-left",
        "peer": {"id": welcome_b["id"], "role": "receiver"},
        "reason": "closed",
    }
    await a.ws.close()
    assert await wait_until_no_connection_items(stack) == []


async def test_a_peer_of_another_room_cannot_reach_them(stack):
    r = room()
    a = await open_client(stack, r, "sender")
    b = await open_client(stack, r, "receiver")
    x = await open_client(stack, room(), "sender")
    wa, _ = await a.hello(), await b.hello()
    await a.recv()  # peer-joined
    await x.hello()
    await x.send(action="signal", payload="intrude", to=wa["id"])
    assert (await x.recv())["code"] == "not-in-room"
    await x.send(action="signal", payload="intrude")
    assert (await x.recv())["code"] == "no-peer"
    await a.nothing()
    await b.nothing()
    for c in (a, b, x):
        await c.ws.close()


@pytest.mark.parametrize(
    "frame,code",
    [
        ("{not json", "bad-json"),
        ("42", "bad-json"),
        (b"\x00\x01binary", "bad-json"),
        ('{"payload": 1}', "missing-field"),
        ('{"action": "teleport"}', "unknown-action"),
        ('{"action": "signal"}', "missing-field"),
        ('{"action": "hello", "role": "admin"}', "unexpected-field"),
        ('{"action": "signal", "payload": {}, "to": ""}', "invalid-field"),
        ('{"action": "signal", "payload": "' + "x" * 20_000 + '"}', "payload-too-large"),
        ('{"action": "signal", "payload": {}, "to": "someone-else="}', "not-in-room"),
        # strict JSON (#10 §4): never internal, never a dropped reply, never a routing crash
        ('{"action": "signal", "payload": NaN}', "bad-json"),
        ('{"action": "ping", "ref": Infinity}', "bad-json"),
        ('{"action": "ping", "ref": "\\ud800"}', "bad-json"),  # a lone surrogate
        ('{"action": "signal", "payload": "\\udfff"}', "bad-json"),
        ('{"action": "signal", "payload": ' + "[" * 33 + "]" * 33 + "}", "bad-json"),
        ("[" * 20_000, "bad-json"),  # deeper than any parser's recursion
    ],
)
async def test_each_bad_input_gets_its_error_and_the_connection_goes_on(stack, frame, code):
    r = room()
    a = await open_client(stack, r, "sender")
    b = await open_client(stack, r, "receiver")
    await a.hello()
    await b.hello()
    await a.recv()
    await a.ws.send(frame)
    error = await a.recv()
    assert error["type"] == "error" and error["code"] == code, error
    assert isinstance(error["message"], str) and "Traceback" not in error["message"]
    await a.send(action="signal", payload="still here")
    assert (await b.recv())["payload"] == "still here"
    await a.ws.close()
    await b.ws.close()


async def test_frames_over_32kb_close_the_connection(stack):
    a = await open_client(stack, room(), "sender")
    await a.ws.send("x" * (32 * 1024 + 1))
    with pytest.raises(ConnectionClosed) as closed:
        await a.recv()
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009


async def test_connect_refusals_reject_the_upgrade(stack):
    with pytest.raises(InvalidStatus) as bad:  # a version-1 client: room id, no key
        await websockets.connect(f"{stack.ws_url}?room={'0' * 32}&role=sender")
    assert bad.value.response.status_code == 400
    r = room()
    a = await open_client(stack, r, "sender")
    with pytest.raises(InvalidStatus) as full:
        await websockets.connect(f"{stack.ws_url}?role=sender",
                                 subprotocols=offer(r))  # type: ignore[arg-type]
    assert full.value.response.status_code == 409
    assert json.loads(full.value.response.body)["code"] == "room-full"
    with pytest.raises(InvalidStatus) as newline:  # identifiers are matched whole
        await websockets.connect(f"{stack.ws_url}?role=receiver&token={'A' * 22}%0A",
                                 subprotocols=offer(r))  # type: ignore[arg-type]
    assert newline.value.response.status_code == 400
    await a.ws.close()


async def test_reconnect_with_token_takes_the_slot_back(stack):
    r, token = room(), secrets.token_urlsafe(24)
    a = await open_client(stack, r, "sender", token)
    b = await open_client(stack, r, "receiver")
    await a.hello()
    await b.hello()
    await a.recv()
    # The sender's network changes: a new connection with the same token, the old one still open.
    a2 = await open_client(stack, r, "sender", token)
    w2 = await a2.hello()
    assert w2["peers"][0]["role"] == "receiver"
    joined = await b.recv()
    assert joined == {"type": "peer-joined", "peer": {"id": w2["id"], "role": "sender"}}
    await a.send(action="signal", payload="from the stale one")
    assert (await a.recv())["code"] == "not-in-room"
    for action in ("ping", "ice-servers", "hello"):  # it lost its membership for everything
        await a.send(action=action, ref=action)
        assert await a.recv() == {"type": "error", "code": "not-in-room",
                                  "message": ANY_TEXT, "ref": action}
    await a.ws.close()
    await b.nothing()  # the stale connection's departure is not announced
    await a2.send(action="signal", payload="from the new one")
    assert (await b.recv())["payload"] == "from the new one"
    # Without the token the slot stays taken.
    with pytest.raises(InvalidStatus):
        await websockets.connect(f"{stack.ws_url}?role=sender&token={'z' * 22}",
                                 subprotocols=offer(r))  # type: ignore[arg-type]
    await a2.ws.close()
    await b.ws.close()


async def in_one_window(attempt):
    """`attempt()`'s result, from a run that began and ended in one rate window.

    The limits count per fixed window: a run that straddles two is counted in both and
    proves nothing, so it is run once more, then early in the next window (instead of
    waiting for a window's start before the first run)."""
    for _ in range(3):
        window = time.time() // RATE_WINDOW_SECONDS
        result = await attempt()
        if time.time() // RATE_WINDOW_SECONDS == window:
            return result
    raise AssertionError("three runs in a row straddled a rate window")


async def _ping_past_the_limit(client, ref: str) -> dict:
    """Ping until the relay refuses (its reply), or one past what it may let through:
    each Lambda instance adds its count to the shared one in batches, so a connection
    may get up to one batch per instance past the limit, never more."""
    reply: dict = {}
    for _extra in range(WORKERS * max(1, min(COUNT_BATCH, RATE // 8)) + 1):
        await client.send(action="ping", ref=ref)
        reply = await client.recv()
        if reply["type"] == "error":
            break
    return reply


async def test_message_rate_limit(stack):
    async def attempt():
        a = await open_client(stack, room(), "sender")
        for n in range(RATE):
            await a.send(action="ping", ref=str(n))
            assert (await a.recv())["type"] == "pong"
        error = await _ping_past_the_limit(a, "over")
        await a.ws.close()
        return error

    error = await in_one_window(attempt)
    assert error == {
        "type": "error",
        "code": "rate-limited",
        "message": error["message"],
        "ref": "over",
    }


async def test_gone_target_is_removed_and_the_sender_told(stack):
    r = room()
    a = await open_client(stack, r, "sender")
    b = await open_client(stack, r, "receiver")
    await a.hello()
    wb = await b.hello()
    await a.recv()
    await age_slot(stack, r, "receiver#1")  # B is past its admission: a 410 means gone
    # The gateway loses B without running $disconnect: posts to B now get 410.
    assert stack.gateway.forget(wb["id"])
    await a.send(action="signal", payload="anyone?")
    assert await a.recv() == {
        "type": "peer-left",
        "peer": {"id": wb["id"], "role": "receiver"},
        "reason": "gone",
    }
    assert (await a.recv())["code"] == "no-peer"
    keys = {(i["pk"]["S"], i["sk"]["S"]) for i in await connection_items(stack)}
    assert (f"CONN#{wb['id']}", "CONN") not in keys
    assert (f"ROOM#{room_id_for(r)}", "SLOT#sender") in keys
    await a.ws.close()


async def test_ping_ice_servers_and_management_api(stack):
    a = await open_client(stack, room(), "sender")
    welcome = await a.hello()
    await a.send(action="ice-servers", ref="i")
    reply = await a.recv()
    assert reply["type"] == "ice-servers" and reply["iceServers"] == [] and reply["ref"] == "i"
    mgmt = boto3.client(
        "apigatewaymanagementapi",
        endpoint_url=stack.gateway.management_url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    info = await asyncio.to_thread(mgmt.get_connection, ConnectionId=welcome["id"])
    assert info["Identity"]["SourceIp"] == "127.0.0.1"
    await asyncio.to_thread(mgmt.post_to_connection, ConnectionId=welcome["id"], Data=b'{"hi":1}')
    assert await a.recv() == {"hi": 1}
    await asyncio.to_thread(mgmt.delete_connection, ConnectionId=welcome["id"])
    with pytest.raises(ConnectionClosed):
        await a.recv()
    with pytest.raises(mgmt.exceptions.GoneException):
        await asyncio.to_thread(mgmt.post_to_connection, ConnectionId=welcome["id"], Data=b"x")


async def test_idle_timeout_closes_the_connection(stack):
    stack.gateway.idle_timeout = 0.3
    try:
        a = await open_client(stack, room(), "sender")
        with pytest.raises(ConnectionClosed) as closed:
            await a.recv(timeout=5)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1001
    finally:
        stack.gateway.idle_timeout = 600.0


async def test_everyone_gone_leaves_no_connection_items(stack):
    assert await wait_until_no_connection_items(stack) == []


# -- liveness (#10 §3) and every frame counts (#10 §4), through the local gateway ------


async def _wait_for(predicate, what: str) -> None:
    for _ in range(400):  # generous: a loaded machine is slow
        if await predicate():
            return
        await asyncio.sleep(0.05)
    pytest.fail(f"timed out waiting for {what}")


async def test_a_peer_still_connecting_keeps_its_slot_when_a_post_to_it_gets_410(stack):
    """Seen on AWS (13 times in 30): a receiver leaves just as a sender connects; the
    departure notice to the sender, not yet open, gets 410. That must not evict it."""
    r = room()
    b = await open_client(stack, r, "receiver")
    wb = await b.hello()
    slot = (f"ROOM#{room_id_for(r)}", "SLOT#sender")
    stack.gateway.upgrade_delay = 3.0  # $connect has run; the 101 is held back
    try:
        connecting = asyncio.ensure_future(open_client(stack, r, "sender"))

        async def admitted() -> bool:
            return slot in {(i["pk"]["S"], i["sk"]["S"]) for i in await connection_items(stack)}

        await _wait_for(admitted, "the sender's $connect")
        await b.ws.close()  # its $disconnect posts peer-left to the sender: 410, still connecting

        async def b_gone() -> bool:
            items = await connection_items(stack)
            return all(i["pk"]["S"] != f"CONN#{wb['id']}" for i in items)

        await _wait_for(b_gone, "the receiver's $disconnect")
        assert await admitted(), "the 410 evicted a peer that was still connecting"
        a = await connecting
    finally:
        stack.gateway.upgrade_delay = 0.0
    welcome = await a.hello()
    assert welcome["role"] == "sender" and welcome["peers"] == []
    await a.ws.close()


async def test_a_slot_held_by_a_vanished_connection_is_taken_over(stack):
    """A holder lost without $disconnect (TCP reset during the upgrade) no longer blocks
    the room for two hours: a connect finding the slot taken asks GetConnection."""
    r = room()
    a = await open_client(stack, r, "sender")
    wa = await a.hello()
    key = await age_slot(stack, r, "sender")  # past its admission grace, without waiting
    # alive: the slot stays taken
    with pytest.raises(InvalidStatus) as full:
        await websockets.connect(f"{stack.ws_url}?role=sender",
                                 subprotocols=offer(r))  # type: ignore[arg-type]
    assert full.value.response.status_code == 409
    # vanished without $disconnect: the next connect takes the slot over
    assert stack.gateway.forget(wa["id"])
    a2 = await open_client(stack, r, "sender")
    w2 = await a2.hello()
    assert w2["role"] == "sender" and w2["id"] != wa["id"]
    items = {(i["pk"]["S"], i["sk"]["S"]): i for i in await connection_items(stack)}
    assert items[(key["pk"]["S"], "SLOT#sender")]["connection_id"]["S"] == w2["id"]
    assert (f"CONN#{wa['id']}", "CONN") not in items
    await a2.ws.close()


async def test_bad_frames_count_toward_the_rate_limit(stack):
    async def attempt():
        a = await open_client(stack, room(), "sender")
        for _ in range(RATE):
            await a.ws.send("{not json")
            assert (await a.recv())["code"] == "bad-json"
        reply = await _ping_past_the_limit(a, "after")
        await a.ws.close()
        return reply

    reply = await in_one_window(attempt)
    assert reply["code"] == "rate-limited" and reply["ref"] == "after"
