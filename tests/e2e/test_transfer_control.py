"""A transfer the sender controls (#15 §3), real CLI processes on the local stack (moto over HTTP).

`--downloads 1`: the first receive works, the objects are deleted, the second is refused
`link-used-up`; `--expires`: past it the stack's TTL sweeper (devstack/sweeper.py, the
stand-in for DynamoDB TTL + stream) runs the cleanup handler, which deletes the objects,
and a receive is refused `link-expired`; `revoke`: deleted at once, refused `link-revoked`.
Each refusal is exit code 5 with its `reason` in `--json`, distinct from a link with
nothing stored (exit 2). Zero knowledge: neither the table nor the relayed frames nor
the object keys hold a key, the code or the file name.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import time

import boto3
import pytest

from transfer_core.protocol.keys import derive_keys
from transfer_core.protocol.secret import TransferSecret

from .peers import FAST, Peer, PeerRun, receive, start_sender

pytestmark = pytest.mark.e2e
EXIT_CLOSED = 5


def _client(stack, service: str):
    return boto3.client(service, endpoint_url=stack.info.aws_endpoint_url,
                        region_name=stack.info.region, aws_access_key_id="testing",
                        aws_secret_access_key="testing")


def stored_keys(stack, room: str) -> list[str]:
    listing = _client(stack, "s3").list_objects_v2(Bucket=stack.info.bucket_name,
                                                   Prefix=f"transfers/{room}/")
    return [o["Key"] for o in listing.get("Contents", [])]


def transfer_item(stack, room: str) -> dict:
    return _client(stack, "dynamodb").get_item(
        TableName=stack.info.table_name, ConsistentRead=True,
        Key={"pk": {"S": f"ROOM#{room}"}, "sk": {"S": "TRANSFER"}}).get("Item", {})


async def store(stack, tmp_path, name: str, *limits: str) -> tuple[str, str, bytes]:
    """Send with the receiver offline: the file is stored. (code, room id, data)"""
    data = os.urandom(300_000)
    (tmp_path / name).write_bytes(data)
    sender = await Peer.start("send", str(tmp_path / name), "--server", stack.url, *FAST,
                              "--p2p-timeout", "0", *limits)
    code = (await sender.next_event())["code"]
    sent = await sender.finish()
    assert sent.code == 0, sent.stderr[-2000:]
    assert sent.event("summary")["path"] == "s3"
    return code, derive_keys(TransferSecret.parse(code)).room_id, data


def refused(run: PeerRun, reason: str) -> None:
    assert run.code == EXIT_CLOSED, run.stderr[-2000:]
    error = run.event("error")
    assert error["error"] == "LinkClosedError" and error["reason"] == reason
    assert error["exit_code"] == EXIT_CLOSED


async def test_one_download_then_the_link_is_used_up_and_nothing_secret_is_kept(
        stack, tmp_path, monkeypatch):
    before = stack.record.stat().st_size if stack.record.exists() else 0
    name = "payroll-for-march.xlsx"
    code, room, data = await store(stack, tmp_path, name, "--downloads", "1")
    assert len(stored_keys(stack, room)) == 2
    item = transfer_item(stack, room)
    assert item["downloads"] == {"N": "1"} and "closed" not in item

    first = await receive(stack.url, code, tmp_path / "one")
    assert first.code == 0, first.stderr[-2000:]
    assert (tmp_path / "one" / name).read_bytes() == data
    assert stored_keys(stack, room) == [], "deleted after the one allowed download"
    closed = transfer_item(stack, room)
    assert closed["closed"] == {"S": "used-up"} and closed["done"] == {"N": "1"}

    # someone else with the link (another machine: no record of the first download)
    monkeypatch.setenv("SGRAPH_SEND_STATE_DIR", str(tmp_path / "another-machine"))
    second = await receive(stack.url, code, tmp_path / "two")
    refused(second, "used-up")
    assert "used up" in second.event("error")["message"]
    assert not (tmp_path / "two" / name).exists()

    # zero knowledge: what the table holds and what crossed the relay
    ddb = _client(stack, "dynamodb")
    items = json.dumps(ddb.scan(TableName=stack.info.table_name)["Items"])
    with open(stack.record, "rb") as fh:
        fh.seek(before)
        relayed = b"\n".join(base64.b64decode(json.loads(line)["data"]) for line in fh)
    assert b'"download-done"' in relayed and room in items  # we did look at the data
    keys = derive_keys(TransferSecret.parse(code))
    for label, value in {
        "code": code, "file name": name, "file name stem": "payroll",
        "room key b64url": base64.urlsafe_b64encode(keys.room_key).rstrip(b"=").decode(),
        "room key hex": keys.room_key.hex(), "file key hex": keys.file_key.hex(),
    }.items():
        assert value not in items, f"{label} reached DynamoDB"
        assert value.encode() not in relayed, f"{label} crossed the relay"


async def test_expiry_the_backend_deletes_and_the_receiver_is_told(stack, tmp_path):
    (tmp_path / "x.bin").write_bytes(b"x")
    too_long = await Peer.start("send", str(tmp_path / "x.bin"), "--server", stack.url,
                                "--expires", "8d")
    run = await too_long.finish()
    assert run.code == 2 and run.event("error")["error"] == "LimitsRefusedError"
    assert "7 days" in run.event("error")["message"]

    code, room, _ = await store(stack, tmp_path, "notes.txt", "--expires", "30m")
    item = transfer_item(stack, room)
    assert abs(int(item["expires_at"]["N"]) - (time.time() + 1800)) < 120
    assert item["ttl"] == item["expires_at"], "DynamoDB's TTL deletes it at expiry"
    # half an hour passes: move the item's expiry into the past, as the clock would
    past = {"N": str(int(time.time()) - 1)}
    _client(stack, "dynamodb").update_item(
        TableName=stack.info.table_name,
        Key={"pk": {"S": f"ROOM#{room}"}, "sk": {"S": "TRANSFER"}},
        UpdateExpression="SET expires_at = :p, #ttl = :p",
        ExpressionAttributeNames={"#ttl": "ttl"}, ExpressionAttributeValues={":p": past})
    for _ in range(300):  # the sweeper (every second) hands it to the cleanup handler
        if not stored_keys(stack, room):
            break
        await asyncio.sleep(0.1)
    assert stored_keys(stack, room) == [], "the backend deleted the expired transfer"
    assert transfer_item(stack, room).get("closed") == {"S": "expired"}

    late = await receive(stack.url, code, tmp_path / "late")
    refused(late, "expired")
    assert "expired" in late.event("error")["message"]


async def test_revoke_deletes_at_once_and_never_stored_is_a_different_error(stack, tmp_path):
    code, room, _ = await store(stack, tmp_path, "draft.pdf")
    assert stored_keys(stack, room)
    revoker = await Peer.start("revoke", code, "--server", stack.url)
    revoked = await revoker.finish()
    assert revoked.code == 0, revoked.stderr[-2000:]
    assert revoked.event("revoked")["closed"] == "revoked"
    assert stored_keys(stack, room) == []
    refused(await receive(stack.url, code, tmp_path / "out"), "revoked")

    never = await receive(stack.url, TransferSecret.generate().code, tmp_path / "none")
    assert never.code == 2, never.stderr[-2000:]
    assert never.event("error")["error"] == "TransferExpiredError"
    assert "reason" not in never.event("error")


async def test_a_direct_download_counts_once_reported_by_the_sender(stack, tmp_path):
    """protocol.md 2.2 (#10 §6): a receive that came peer to peer read nothing stored, so
    the receiver does not report it; the sender, which set `--downloads 1`, does, on the
    receipt in the receiver's `done`. One `download-done` in all, and the link is used up."""
    data = os.urandom(200_000)
    (tmp_path / "direct.bin").write_bytes(data)
    before = stack.record.stat().st_size if stack.record.exists() else 0
    sender, link = await start_sender(stack.url, tmp_path / "direct.bin", "--downloads", "1")
    room = derive_keys(TransferSecret.parse(link["code"])).room_id
    got = await receive(stack.url, link["code"], tmp_path / "out")
    sent = await sender.finish()
    assert got.code == 0 and sent.code == 0, got.stderr[-2000:] + sent.stderr[-2000:]
    assert (tmp_path / "out" / "direct.bin").read_bytes() == data
    assert got.event("summary")["path"] == "p2p"
    assert [r["path"] for r in sent.event("summary")["receipts"]] == ["p2p"]
    with open(stack.record, "rb") as fh:
        fh.seek(before)
        frames = [(json.loads(line)["direction"], base64.b64decode(json.loads(line)["data"]))
                  for line in fh]
    reports = [d for direction, d in frames
               if direction == "in" and b'"download-done"' in d]
    assert len(reports) == 1, "counted once, by the sender alone"
    item = transfer_item(stack, room)
    assert item["done"] == {"N": "1"} and item["closed"] == {"S": "used-up"}
