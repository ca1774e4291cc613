"""The local gateway invokes one connection's messages as API Gateway does (#14).

API Gateway starts a Lambda invocation for each message as it arrives; it does not
wait for the invocation of the message before. The gateway here runs over a real
WebSocket; its `invoke` is a stand-in for the Lambda workers, because the property
needs a Lambda that is still running when the next message arrives, which the real
handlers (a few milliseconds each) cannot be made to be on demand.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import websockets

from devstack.gateway import Gateway
from transfer_core.timeouts import within


async def test_a_message_does_not_wait_for_the_lambda_of_the_one_before() -> None:
    started: list[str] = []
    second_started = asyncio.Event()

    async def invoke(kind: str, event: dict[str, Any]) -> dict[str, Any]:
        if kind != "relay":
            return {"statusCode": 200}
        body = json.loads(event["body"])
        started.append(body["action"])
        if body["action"] == "hello":
            # the first message's Lambda runs until the second one's has started: a
            # gateway that waits for it before invoking the next never gets there
            await within(second_started.wait(), 30)
        else:
            second_started.set()
        return {"statusCode": 200}

    gateway = Gateway(invoke=invoke, routes=frozenset({"hello", "signal"}))
    await gateway.start()
    try:
        async with websockets.connect(gateway.ws_url) as ws:
            await ws.send(json.dumps({"action": "hello"}))
            await ws.send(json.dumps({"action": "signal", "payload": "x"}))
            await within(second_started.wait(), 30)
        assert started == ["hello", "signal"]
    finally:
        await gateway.close()
