"""The hybrid engine between real CLI processes on the local stack (moto S3 over HTTP).

Receiver offline → the file is stored → the receiver fetches it later; the sender
killed mid-transfer → resumed onto storage → the receiver finishes on a mix of
peer to peer and S3, byte-identical.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import re
import signal

import boto3
import pytest

from transfer_core.protocol.keys import derive_keys
from transfer_core.protocol.layout import ChunkLayout
from transfer_core.protocol.ranges import RangeSet
from transfer_core.protocol.secret import TransferSecret
from transfer_core.sink import work_dir_for

from .peers import FAST, Peer, receive

pytestmark = pytest.mark.e2e
SHORT = ["--reconnect-grace", "2"]


def bucket_objects(stack) -> dict[str, bytes]:
    s3 = boto3.client("s3", endpoint_url=stack.info.aws_endpoint_url,
                      region_name=stack.info.region, aws_access_key_id="testing",
                      aws_secret_access_key="testing")
    listing = s3.list_objects_v2(Bucket=stack.info.bucket_name, Prefix="transfers/")
    return {o["Key"]: s3.get_object(Bucket=stack.info.bucket_name, Key=o["Key"])["Body"].read()
            for o in listing.get("Contents", [])}


async def send(stack, path, *extra: str) -> Peer:
    return await Peer.start("send", str(path), "--server", stack.url, *FAST, *extra)


async def test_receiver_offline_file_is_stored_then_fetched(stack, tmp_path):
    data = os.urandom(12 << 20)
    (tmp_path / "holiday-plans.bin").write_bytes(data)
    sender = await send(stack, tmp_path / "holiday-plans.bin", "--p2p-timeout", "1")
    link = await sender.next_event()
    sent = await sender.finish()
    assert sent.code == 0, sent.stderr[-2000:]
    summary = sent.event("summary")
    assert summary["path"] == "s3" and summary["stored_until"] > 0
    assert summary["chunks"]["s3"] == summary["chunks"]["s3"] > 0
    keys = derive_keys(TransferSecret.parse(link["code"]))
    room = keys.room_id
    everything = bucket_objects(stack)
    for key in everything:  # the room key (the capability) never names an object
        assert keys.room_key.hex() not in key
        assert base64.urlsafe_b64encode(keys.room_key).rstrip(b"=").decode() not in key
    stored = {k: v for k, v in everything.items() if room in k}
    assert sorted(stored) == [f"transfers/{room}/manifest",
                              f"transfers/{room}/records/0000000000"]
    for key, body in stored.items():  # zero knowledge: ciphertext under neutral keys
        assert "holiday" not in key and b"holiday" not in body
        assert data[4096:4128] not in body and data[-32:] not in body

    received = await receive(stack.url, link["code"], tmp_path / "out")
    assert received.code == 0, received.stderr[-2000:]
    assert (tmp_path / "out" / "holiday-plans.bin").read_bytes() == data
    summary = received.event("summary")
    assert summary["path"] == "s3" and summary["chunks"]["p2p"] == 0


async def test_sender_killed_mid_p2p_remainder_via_s3_mixed_file(stack, tmp_path):
    data = os.urandom(48 << 20)
    (tmp_path / "big.bin").write_bytes(data)
    out = tmp_path / "out"
    sender = await send(stack, tmp_path / "big.bin", "--p2p-timeout", "30")
    link = await sender.next_event()
    code = link["code"]
    # the receiver paced (48 MiB in about 6 s), so the kill lands mid-transfer: unpaced,
    # a receiver on loopback once had the whole file before the sender's acknowledged
    # state on disk showed 32 chunks
    receiver = await Peer.start("receive", code, "-o", str(out), "--server", stack.url,
                                *FAST, *SHORT, "--limit-rate", "8M")
    room = derive_keys(TransferSecret.parse(code)).room_id
    progress = work_dir_for(out, room)
    acked = tmp_path / "sender-state" / room / "held"
    for _ in range(1200):  # until the receiver saved some of the file and acknowledged it
        await asyncio.sleep(0.02)
        try:
            doc = json.loads((progress / "progress.json").read_text())
            held = len(RangeSet.decode(base64.b64decode(doc["via"]["p2p"])))
            known = len(RangeSet.decode(acked.read_bytes()))
        except (OSError, ValueError):
            continue
        if held >= 32 and known >= 32:
            break
    else:
        raise AssertionError("the receiver held and acknowledged fewer than 32 chunks in 24 s")
    sender.proc.send_signal(signal.SIGKILL)  # the sender's machine goes away mid-transfer
    await sender.proc.wait()
    first = await receiver.finish()
    # nothing is stored yet: the receiver keeps what it has and says how to go on
    assert first.code == 4, first.stderr[-2000:]
    assert "send --resume" in first.event("error")["message"]
    assert not (out / "big.bin").exists()

    # the sender comes back on the same link; the receiver is offline: the rest is stored
    resumed = await send(stack, tmp_path / "big.bin", "--resume", code, "--p2p-timeout", "0")
    assert (await resumed.next_event())["code"] == code
    stored = await resumed.finish()
    assert stored.code == 0, stored.stderr[-2000:]
    chunks = stored.event("summary")["chunks"]
    # it stores what the receiver lacked by its last acknowledgement before the kill
    assert chunks["p2p"] >= 32 and chunks["s3"] > 0
    assert chunks["p2p"] + chunks["s3"] == ChunkLayout(48 << 20).count  # the default record size
    assert stored.event("summary")["path"] == "p2p+s3"

    again = await receive(stack.url, code, out)
    assert again.code == 0, again.stderr[-2000:]
    assert (out / "big.bin").read_bytes() == data
    summary = again.event("summary")
    assert summary["path"] == "p2p+s3"
    assert summary["chunks"]["p2p"] > 0 and summary["chunks"]["s3"] > 0
    keys = [k for k in bucket_objects(stack) if room in k]
    first_stored = int(next(k for k in keys if "/records/" in k).rsplit("/", 1)[1])
    assert first_stored == chunks["p2p"], "only the remainder was stored"
    assert all(re.fullmatch(rf"transfers/{room}/(manifest|records/\d{{10}})", k) for k in keys)


async def test_one_stored_copy_serves_the_absent_of_several_receivers(stack, tmp_path):
    """`send --receivers 2` (#15): the first receiver is served directly; the second is
    absent by the deadline, so the whole file is stored once, exactly as for one receiver,
    and that receiver fetches it later."""
    data = os.urandom(3 << 20)
    (tmp_path / "minutes.bin").write_bytes(data)
    # a deadline the first receiver meets even on a loaded machine; the second never comes
    sender = await send(stack, tmp_path / "minutes.bin", "--receivers", "2",
                        "--p2p-timeout", "15")
    link = await sender.next_event()
    first = await receive(stack.url, link["code"], tmp_path / "out1")
    sent = await sender.finish()
    assert first.code == 0 and sent.code == 0, first.stderr[-2000:] + sent.stderr[-2000:]
    summary = sent.event("summary")
    assert summary["stored_until"] > 0 and summary["path"] == "p2p+s3"
    assert [r["outcome"] for r in summary["receivers"]] == ["delivered", "stored"]
    assert [r["receiver"] for r in summary["receipts"]] == [
        first.event("summary")["receipts"][0]["receiver"]]
    room = derive_keys(TransferSecret.parse(link["code"])).room_id
    assert sorted(k for k in bucket_objects(stack) if room in k) == [
        f"transfers/{room}/manifest", f"transfers/{room}/records/0000000000"]
    second = await receive(stack.url, link["code"], tmp_path / "out2")
    assert second.code == 0, second.stderr[-2000:]
    for out in ("out1", "out2"):
        assert (tmp_path / out / "minutes.bin").read_bytes() == data
    assert first.event("summary")["path"] == "p2p"
    assert second.event("summary")["path"] == "s3"
