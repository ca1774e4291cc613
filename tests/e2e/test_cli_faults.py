"""The faults people meet, as CLI processes through the local stack (#11 items 1, 6-9).

The stack presigns against an S3 fault proxy (`s3_fault_proxy`), so a test can make
storage fail, reset or cut answers short; with no faults planned it only forwards.
"""

from __future__ import annotations

import asyncio
import os
import socket

import pytest

from devstack.process import DevStackProcess
from transfer_core.protocol.keys import derive_keys
from transfer_core.protocol.secret import TransferSecret
from transfer_core.session.state import SendState
from transfer_core.source import FileSource

from . import fault_stack
from .fault_stack import dash_code, s3, wait_for_progress
from .peers import FAST, Peer, receive, start_sender
from .s3_fault_proxy import FaultPlan

pytestmark = pytest.mark.e2e
proxy, stack, no_faults = fault_stack.proxy, fault_stack.stack, fault_stack.no_faults


async def test_codes_beginning_with_a_dash_work_in_every_command(stack, tmp_path):
    code = dash_code()
    nobody = await receive(stack.url, code, tmp_path / "out")
    # read as the link, not as an option: storage was asked, and holds nothing
    assert nobody.event("error")["error"] == "TransferExpiredError", nobody.stderr[-2000:]
    data = os.urandom(300_000)
    path = tmp_path / "dash.bin"
    path.write_bytes(data)
    nothing = await Peer.start("send", str(path), "--server", stack.url, "--resume", code)
    assert (await nothing.finish()).event("error")["error"] == "NothingToResumeError"

    # an earlier transfer on that code, as a stopped sender left it: resumed, received
    keys = derive_keys(TransferSecret.parse(code))
    with FileSource.create(path, keys.file_key, 64 * 1024) as source:
        SendState(keys.room_id, tmp_path / "sender-state").save_manifest(source.manifest_record)
    sender, link = await start_sender(stack.url, path, "--resume", code)
    assert link["code"] == code
    received = await receive(stack.url, code, tmp_path / "out")
    sent = await sender.finish()
    assert received.code == 0 and sent.code == 0, received.stderr[-2000:] + sent.stderr[-2000:]
    assert (tmp_path / "out" / "dash.bin").read_bytes() == data


async def test_a_rerun_after_completion_says_complete(stack, tmp_path):
    data = os.urandom(200_000)
    path = tmp_path / "report.pdf"
    path.write_bytes(data)
    sender, link = await start_sender(stack.url, path)
    first = await receive(stack.url, link["code"], tmp_path / "out")
    assert first.code == 0 and (await sender.finish()).code == 0, first.stderr[-2000:]
    again = await receive(stack.url, link["code"], tmp_path / "out")
    assert again.code == 0, again.stderr[-2000:]
    done = again.event("complete")
    assert "complete" in done["message"] and "expired" not in done["message"]
    assert done["destination"] == str((tmp_path / "out" / "report.pdf").resolve())
    resumed = await Peer.start("send", str(path), "--server", stack.url, "--resume",
                               link["code"])
    run = await resumed.finish()
    assert run.code == 0, run.stderr[-2000:]
    assert "complete" in run.event("complete")["message"]
    assert "nothing to resume" not in run.stderr
    assert (tmp_path / "out" / "report.pdf").read_bytes() == data


async def test_storage_errors_never_show_a_presigned_url(stack, proxy, tmp_path):
    proxy.plan = FaultPlan(seed=7, rate=1.0, kinds=("reset",), methods=frozenset({"PUT"}))
    path = tmp_path / "f.bin"
    path.write_bytes(os.urandom(100_000))
    sender = await Peer.start("send", str(path), "--server", stack.url, *FAST,
                              "--p2p-timeout", "0", "-v", "-v")
    run = await sender.finish(timeout=180)
    assert run.code == 4, run.stderr[-2000:]
    error = run.event("error")
    assert error["error"] == "StorageError" and "reset" in error["message"]
    assert len(error["message"]) < 200, error["message"]
    assert proxy.injected["reset"] >= 2  # retried before giving up
    for text in (error["message"], run.stderr):  # --json, the display and the debug log
        assert "X-Amz-" not in text and "Signature" not in text
        assert proxy.url not in text and "/transfers/" not in text


async def test_a_receiver_that_cannot_reach_the_server_leaves_nothing(tmp_path):
    with socket.socket() as sock:  # a port with nobody listening
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    out = tmp_path / "out"
    out.mkdir()
    run = await receive(f"ws://127.0.0.1:{port}", TransferSecret.generate().code, out)
    assert run.code == 4, run.stderr[-2000:]
    assert list(out.iterdir()) == [], "a work folder was left behind"
    fresh = await receive(f"ws://127.0.0.1:{port}", TransferSecret.generate().code,
                          tmp_path / "new")
    assert fresh.code == 4 and not (tmp_path / "new").exists()


async def test_a_stored_transfer_missing_a_part_is_refused_as_verification(stack, tmp_path):
    data = os.urandom(12 << 20)
    path = tmp_path / "big.bin"
    path.write_bytes(data)
    sender = await Peer.start("send", str(path), "--server", stack.url, *FAST,
                              "--p2p-timeout", "0")
    link = await sender.next_event()
    assert (await sender.finish()).code == 0
    room = derive_keys(TransferSecret.parse(link["code"])).room_id
    client = s3(stack.info)
    key = f"transfers/{room}/records/0000000000"
    body = client.get_object(Bucket=stack.info.bucket_name, Key=key)["Body"].read()
    # storage lost the first 8 MiB part of the completed object, for good
    await asyncio.to_thread(client.put_object, Bucket=stack.info.bucket_name, Key=key,
                            Body=body[8 << 20:])
    run = await receive(stack.url, link["code"], tmp_path / "out")
    assert run.code == 3, run.stderr[-2000:]
    error = run.event("error")
    assert error["error"] == "StoredPartMissingError" and "part is missing" in error["message"]
    assert not (tmp_path / "out" / "big.bin").exists()


async def test_a_signalling_outage_does_not_stop_a_direct_transfer(tmp_path):
    import signal

    data = os.urandom(32 << 20)
    path = tmp_path / "big.bin"
    path.write_bytes(data)
    out = tmp_path / "out"
    stack = DevStackProcess()
    info = stack.__enter__()
    try:
        sender, link = await start_sender(info.ws_url, path)
        receiver = await Peer.start("receive", link["code"], "-o", str(out), "--server",
                                    info.ws_url, *FAST)
        assert await wait_for_progress(out, link["code"], 16) >= 16
        assert stack._proc is not None
        stack._proc.send_signal(signal.SIGKILL)  # the whole signalling stack goes away
        stack._proc.wait()
        received = await receiver.finish()
        sent = await sender.finish()
    finally:
        stack.__exit__(None, None, None)
    assert received.code == 0, received.stderr[-2000:]
    assert sent.code == 0, sent.stderr[-2000:]
    assert (out / "big.bin").read_bytes() == data
    assert received.event("summary")["path"] == "p2p"
    assert received.event("summary")["reconnects"] == 0  # the channel never broke


async def test_a_frozen_receiver_is_noticed_and_storage_takes_over(stack, tmp_path):
    import signal

    data = os.urandom(32 << 20)
    path = tmp_path / "big.bin"
    path.write_bytes(data)
    out = tmp_path / "out"
    sender, link = await start_sender(stack.url, path, "--reconnect-grace", "3", "-v")
    receiver = await Peer.start("receive", link["code"], "-o", str(out), "--server", stack.url,
                                *FAST)
    assert await wait_for_progress(out, link["code"], 16) >= 16
    receiver.proc.send_signal(signal.SIGSTOP)  # frozen: its sockets stay open, it says nothing
    try:
        sent = await sender.finish(timeout=180)
    finally:
        receiver.proc.send_signal(signal.SIGCONT)
    assert sent.code == 0, sent.stderr[-3000:]
    # the silence was noticed (not ICE consent), and the rest stored while it was frozen
    assert "the receiver went silent" in sent.stderr
    summary = sent.event("summary")
    assert summary["stored_until"] and summary["chunks"]["s3"] > 0
    received = await receiver.finish()
    assert received.code == 0, received.stderr[-3000:]
    assert (out / "big.bin").read_bytes() == data


async def test_a_receiver_rerun_waits_for_the_sender_to_resume(stack, tmp_path):
    import signal

    data = os.urandom(24 << 20)
    path = tmp_path / "big.bin"
    path.write_bytes(data)
    out = tmp_path / "out"
    sender, link = await start_sender(stack.url, path)
    code = link["code"]
    receiver = await Peer.start("receive", code, "-o", str(out), "--server", stack.url, *FAST)
    assert await wait_for_progress(out, code, 16) >= 16
    for peer in (sender, receiver):  # both machines go away mid-transfer
        peer.proc.send_signal(signal.SIGKILL)
        await peer.proc.wait()
    # the receiver is re-run first; the sender resumes a moment later
    again = await Peer.start("receive", code, "-o", str(out), "--server", stack.url, *FAST)
    await asyncio.sleep(1)
    resumed, _ = await start_sender(stack.url, path, "--resume", code)
    received = await again.finish()
    sent = await resumed.finish()
    assert received.code == 0, received.stderr[-3000:]
    assert sent.code == 0, sent.stderr[-3000:]
    assert (out / "big.bin").read_bytes() == data
    assert received.event("summary")["path"] == "p2p"  # directly: nothing was stored
    assert sent.event("summary")["stored_until"] is None


# --- #15 §3: the receiver comes online while the sender is storing ------------------------
# S3 sits behind the fault proxy, which holds every presigned PUT (a slow upload path)
# until the test lets go; the upload stops and the rest goes peer to peer.


async def test_a_receiver_coming_online_during_the_upload_gets_the_rest_directly(
        stack, proxy, tmp_path):
    data = os.urandom(12 << 20)
    (tmp_path / "slow.bin").write_bytes(data)
    puts = proxy.presigned["PUT"]
    proxy.put_delay, sender = 300.0, None
    proxy.release.clear()
    try:
        sender = await Peer.start("send", str(tmp_path / "slow.bin"), "--server", stack.url,
                                  *FAST, "--p2p-timeout", "1")
        link = await sender.next_event()
        for _ in range(1200):  # until the sender is uploading (a PUT reached the proxy)
            if proxy.presigned["PUT"] > puts:
                break
            await asyncio.sleep(0.05)
        assert proxy.presigned["PUT"] > puts, "the sender never started storing"
        received = await receive(stack.url, link["code"], tmp_path / "out")
    finally:
        proxy.release.set()  # the held PUTs go on (the sender waits for its threads)
        proxy.put_delay = 0.0
    sent = await sender.finish()
    assert received.code == 0, received.stderr[-3000:]
    assert sent.code == 0, sent.stderr[-3000:]
    assert (tmp_path / "out" / "slow.bin").read_bytes() == data
    summary = sent.event("summary")
    # it was storing (a PUT was held), then sent the rest directly: both in its summary
    assert summary["upload_stopped"] is True and summary["stored_until"] is None
    assert summary["path"] == "p2p" and summary["sha256_verified"] is True
    assert received.event("summary")["path"] == "p2p"
    assert len(summary["receipts"]) == 1
