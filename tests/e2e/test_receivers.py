"""One file to several receivers (#15 §2): real CLI processes on a local stack that
allows three receivers a room."""

from __future__ import annotations

import asyncio
import os

import pytest

from devstack.process import DevStackProcess
from transfer_core.protocol.keys import derive_keys
from transfer_core.protocol.secret import TransferSecret
from transfer_core.signalling.client import RoomRefusedError, SignalClient, new_token

from .peers import FAST, Peer, PeerRun

pytestmark = pytest.mark.e2e
MAX_RECEIVERS = 3


@pytest.fixture(scope="module")
def stack3():
    with DevStackProcess(env={"MAX_RECEIVERS": str(MAX_RECEIVERS)}) as info:
        yield info


async def _receive(url: str, code: str, out, *extra: str) -> Peer:
    return await Peer.start("receive", code, "-o", str(out), "--server", url, *FAST, *extra)


async def test_three_receivers_one_late_each_byte_identical_with_receipts(stack3, tmp_path):
    data = os.urandom(2 << 20)
    (tmp_path / "team.bin").write_bytes(data)
    sender = await Peer.start("send", str(tmp_path / "team.bin"), "--server", stack3.ws_url,
                              *FAST, "--p2p-timeout", "90", "--receivers", "3")
    link = await sender.next_event()
    assert link["event"] == "link"
    first = [await _receive(stack3.ws_url, link["code"], tmp_path / f"out{n}") for n in (1, 2)]
    early: list[PeerRun] = [await peer.finish() for peer in first]
    # the third comes once the first two are done: it gets the file as they did
    late = await (await _receive(stack3.ws_url, link["code"], tmp_path / "out3")).finish()
    sent = await sender.finish()
    assert sent.code == 0, sent.stderr[-3000:]
    runs = [*early, late]
    for n, run in enumerate(runs, 1):
        assert run.code == 0, run.stderr[-3000:]
        assert (tmp_path / f"out{n}" / "team.bin").read_bytes() == data
        summary = run.event("summary")
        assert summary["path"] == "p2p" and summary["sha256_verified"] is True
        assert len(summary["receipts"]) == 1  # the receipt it sent
    summary = sent.event("summary")
    assert summary["path"] == "p2p" and summary["sha256_verified"] is True
    assert [r["receiver"] for r in summary["receivers"]] == [1, 2, 3]
    assert all(r["outcome"] == "delivered" for r in summary["receivers"])
    # every receiver's signed receipt arrived, verified, and names that receiver
    sent_ids = {run.event("summary")["receipts"][0]["receiver"] for run in runs}
    assert len(sent_ids) == 3
    assert {r["receiver"] for r in summary["receipts"]} == sent_ids
    assert sorted(r["receiver_number"] for r in summary["receipts"]) == [1, 2, 3]
    assert all(r["size"] == len(data) and r["path"] == "p2p" for r in summary["receipts"])
    # each receiver had its own progress lines, numbered
    numbers = {e["receiver"] for e in sent.events if e.get("event") == "progress"}
    assert {1, 2, 3} <= numbers


async def test_more_receivers_than_the_stack_allows_is_a_clear_error(stack3, tmp_path):
    (tmp_path / "f.bin").write_bytes(b"x" * 1000)
    sender = await Peer.start("send", str(tmp_path / "f.bin"), "--server", stack3.ws_url,
                              *FAST, "--receivers", str(MAX_RECEIVERS + 1))
    run = await sender.finish(timeout=60)
    assert run.code == 2, run.stderr[-2000:]
    error = run.event("error")
    assert error["error"] == "TooManyReceiversError"
    assert f"at most {MAX_RECEIVERS} receivers" in error["message"]
    assert "Traceback" not in run.stderr


async def test_a_receiver_past_max_receivers_is_refused_clearly(stack3):
    secret = TransferSecret.generate()
    keys = derive_keys(secret)
    held = [await SignalClient.connect(stack3.ws_url, keys.room_key, "receiver", new_token())
            for _ in range(MAX_RECEIVERS)]
    try:
        with pytest.raises(RoomRefusedError) as refused:
            await SignalClient.connect(stack3.ws_url, keys.room_key, "receiver", new_token())
        assert "already has all the receivers it takes" in str(refused.value)
        assert "maxReceivers" in str(refused.value)
    finally:
        await asyncio.gather(*(client.close() for client in held))
