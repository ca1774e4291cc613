"""A relay that tampers with signalling is detected and the connection refused."""

import asyncio
import copy
import os
import re
from typing import Any

import pytest

from .peers import Peer, receive, start_sender
from .tamper_proxy import TamperProxy, kind

pytestmark = pytest.mark.e2e


def fresh_file(tmp_path, size=256 << 10):
    path = tmp_path / "payload.bin"
    path.write_bytes(os.urandom(size))
    return path


def swap_fingerprint(message):
    if kind(message) == "offer":
        message = copy.deepcopy(message)
        data = message["payload"]["data"]
        message["payload"]["data"] = re.sub(
            r"(a=fingerprint:sha-256 )([0-9A-F:]+)",
            lambda m: m.group(1) + ":".join(["AB"] * 32), data)
        assert message["payload"]["data"] != data
    return [message]


async def test_swapped_dtls_fingerprint_is_refused(stack, tmp_path):
    sender, link = await start_sender(stack.url, fresh_file(tmp_path))
    async with TamperProxy(stack.url, swap_fingerprint) as proxy:
        run = await receive(proxy.url, link["code"], tmp_path / "out")
    await sender.kill()
    assert any(kind(m) == "offer" for m in proxy.seen), "the offer never passed the proxy"
    assert run.code == 3
    error = run.event("error")
    assert error["error"] == "ForgedSignalError"
    assert "possible interception" in error["message"]
    assert not (tmp_path / "out" / "payload.bin").exists()


async def test_replayed_offer_is_refused(stack, tmp_path):
    """An offer recorded in one receiver's session, replayed into the next one's."""
    recorded: list[dict[str, Any]] = []

    def record_then_replay(message):
        if kind(message) == "offer":
            if not recorded:
                recorded.append(message)
            else:
                return [recorded[0]]  # the relay swaps the fresh offer for the old one
        return [message]

    sender, link = await start_sender(stack.url, fresh_file(tmp_path, 64 << 20))
    async with TamperProxy(stack.url, record_then_replay) as proxy:
        first = await Peer.start("receive", link["code"], "-o", str(tmp_path / "out"),
                                 "--server", proxy.url)
        for _ in range(200):
            if recorded:
                break
            await asyncio.sleep(0.05)
        await first.kill()
        assert recorded, "no offer was recorded"
        run = await receive(proxy.url, link["code"], tmp_path / "out")
    await sender.kill()
    assert run.code == 3, run.stderr[-2000:]
    assert run.event("error")["error"] == "ReplayedSignalError"


async def test_injected_candidate_is_refused(stack, tmp_path):
    def inject(message):
        if kind(message) == "offer":
            forged = copy.deepcopy(message)
            forged["payload"].update(kind="candidate",
                                     data="candidate:1 1 udp 2130706431 10.9.9.9 9 typ host")
            return [forged, message]  # the MAC no longer matches the altered fields
        return [message]

    sender, link = await start_sender(stack.url, fresh_file(tmp_path))
    async with TamperProxy(stack.url, inject) as proxy:
        run = await receive(proxy.url, link["code"], tmp_path / "out")
    await sender.kill()
    assert run.code == 3
    assert run.event("error")["error"] == "ForgedSignalError"
