"""The open-connection cap per client address through the local gateway (#10 §4):
real WebSockets, two Lambda worker processes (two instances), moto's server."""

from __future__ import annotations

import asyncio
import json
import secrets

import pytest
import pytest_asyncio
import websockets
from websockets.exceptions import InvalidStatus

from devstack import DevStack
from transfer_core.protocol.room import SUBPROTOCOL, offer
from transfer_core.signalling.client import RoomRefusedError, SignalClient, new_token

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio(loop_scope="module")]

CAP = 3
#: Another client address: a second loopback source address (the destination is
#: still 127.0.0.1; Linux routes all of 127.0.0.0/8 to the loopback interface).
OTHER_ADDRESS = "127.0.0.2"


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def stack():
    env = {"MAX_CONNECTIONS_PER_ADDRESS": str(CAP), "CONNECT_RATE_PER_MINUTE": "10000"}
    async with DevStack.start(workers=2, env=env) as running:
        yield running


async def open_ws(stack: DevStack, source: str = "127.0.0.1") -> websockets.ClientConnection:
    ws = await websockets.connect(
        f"{stack.ws_url}?role=sender",
        subprotocols=offer(secrets.token_bytes(32)),  # type: ignore[arg-type]
        local_addr=(source, 0))
    assert ws.subprotocol == SUBPROTOCOL
    return ws


async def connection_items(stack: DevStack) -> int:
    items = await asyncio.to_thread(stack.table_items)
    return sum(1 for i in items if i["pk"]["S"].startswith("CONN#"))


async def test_the_cap_refuses_the_next_connection_until_one_closes(stack):
    held = [await open_ws(stack) for _ in range(CAP)]

    with pytest.raises(InvalidStatus) as refused:
        await open_ws(stack)
    assert refused.value.response.status_code == 429
    body = json.loads(refused.value.response.body)
    assert body["code"] == "rate-limited" and f"{CAP} connections" in body["message"]
    # what the CLI tells its user
    with pytest.raises(RoomRefusedError) as cli:
        await SignalClient.connect(stack.ws_url, secrets.token_bytes(32), "sender", new_token())
    assert cli.value.status == 429 and "too many connections" in str(cli.value)

    elsewhere = await open_ws(stack, OTHER_ADDRESS)  # another address is not affected

    await held.pop().close()
    for _ in range(400):  # $disconnect runs after the close; a loaded machine is slow
        if await connection_items(stack) == CAP:
            break
        await asyncio.sleep(0.05)
    else:
        pytest.fail("$disconnect never removed the closed connection")
    held.append(await open_ws(stack))  # the freed place is taken again
    with pytest.raises(InvalidStatus) as again:
        await open_ws(stack)
    assert again.value.response.status_code == 429

    for ws in (*held, elsewhere):
        await ws.close()
