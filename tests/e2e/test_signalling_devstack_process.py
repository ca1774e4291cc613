"""The local stack as a separate process, as peers in other processes will use it."""

from __future__ import annotations

import asyncio
import json
import secrets
from typing import Any

import pytest
import websockets

from devstack import DevStackProcess
from transfer_core.protocol.room import offer

pytestmark = pytest.mark.e2e


def test_devstack_runs_as_a_separate_process_and_records(tmp_path):
    record = tmp_path / "relayed.jsonl"

    async def talk(url: str) -> dict[str, Any]:
        async with websockets.connect(
            f"{url}?role=sender",
            subprotocols=offer(secrets.token_bytes(32)),  # type: ignore[arg-type]
        ) as ws:
            await ws.send('{"action":"ping","ref":"p"}')
            return json.loads(await ws.recv())

    with DevStackProcess(record_to=record) as info:
        assert info.ws_url.startswith("ws://127.0.0.1:")
        pong = asyncio.run(talk(info.ws_url))
    assert pong["type"] == "pong" and pong["ref"] == "p"
    lines = [json.loads(line) for line in record.read_text().splitlines()]
    assert [line["direction"] for line in lines] == ["in", "out"]
