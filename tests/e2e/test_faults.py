"""Fault injection (#11): SIGKILL and SIGSTOP at random points of send and receive, over
peer to peer and storage, a signalling outage mid-transfer, and an S3 proxy that fails,
resets and truncates requests.

Each case is drawn from a seed and must end byte-identical or in a clear failure (an
`error` event, exit 2-4), never hang (every wait has a deadline; a stuck process is
killed and the case fails), and never leave a wrong file under the final name. The
seed of each case is in its test id and printed. `make test` runs a handful of fixed
seeds; more:

    SGRAPH_FAULT_CASES=20 pytest tests/e2e/test_faults.py       # 20 more, random seeds
    SGRAPH_FAULT_SEEDS=stop-sender:1234 pytest tests/e2e/test_faults.py   # replay one
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
from pathlib import Path

import pytest

from devstack.process import DevStackProcess

from . import fault_stack
from .fault_stack import wait_for_progress
from .peers import FAST, Peer, PeerRun, start_sender
from .s3_fault_proxy import FaultPlan

pytestmark = pytest.mark.e2e
proxy, stack, no_faults = fault_stack.proxy, fault_stack.stack, fault_stack.no_faults

KINDS = ("kill-receiver", "stop-receiver", "kill-sender", "stop-sender", "s3-faults")
DEFAULT_CASES = [("kill-receiver", 101), ("stop-receiver", 202), ("kill-sender", 303),
                 ("s3-faults", 404)]
RECORD = 64 * 1024 - 48
DEADLINE = 300.0
"""Seconds any one process may take before the case counts as a hang."""


def cases() -> list[tuple[str, int]]:
    if chosen := os.environ.get("SGRAPH_FAULT_SEEDS"):
        return [(kind, int(seed)) for kind, seed in
                (item.split(":") for item in chosen.split(","))]
    extra = int(os.environ.get("SGRAPH_FAULT_CASES", "0"))
    draw = random.Random()
    return DEFAULT_CASES + [(draw.choice(KINDS), draw.randrange(1 << 31)) for _ in range(extra)]


async def finish(peer: Peer, label: str) -> PeerRun:
    """The process's outcome; a process past the deadline is killed: a hang fails the case."""
    try:
        return await peer.finish(timeout=DEADLINE)
    except TimeoutError:
        await peer.kill()
        raise AssertionError(f"{label} hung for {DEADLINE:.0f} s") from None


def check(run: PeerRun, label: str) -> None:
    """Success, or a clear failure: an exit code that means something and an error event."""
    assert run.code in (0, 2, 3, 4), f"{label}: exit {run.code}\n{run.stderr[-2000:]}"
    if run.code:
        assert run.event("error")["message"], f"{label}: failed without saying why"


def received_intact(out: Path, name: str, data: bytes) -> bool:
    """Never a wrong file under the final name; True once the right one is there."""
    final = out / name
    if not final.exists():
        return False
    assert final.read_bytes() == data, "a wrong file under the final name"
    return True


@pytest.mark.parametrize(("kind", "seed"), cases(), ids=lambda v: str(v))
async def test_fault_case(stack, proxy, tmp_path, kind, seed):
    print(f"fault case {kind}:{seed} (replay: SGRAPH_FAULT_SEEDS={kind}:{seed})")
    rng = random.Random(seed)
    data = rng.randbytes(rng.choice([4, 8, 12]) << 20)
    path = tmp_path / "payload.bin"
    path.write_bytes(data)
    out = tmp_path / "out"
    records = -(-len(data) // RECORD)
    at = int(records * rng.uniform(0.05, 0.8))  # how far the receiver got when it strikes
    if kind == "s3-faults":
        await s3_faults(stack, proxy, rng, path, out, data)
        return
    grace = "3" if kind == "stop-receiver" else "2" if kind == "kill-sender" else "20"
    sender, link = await start_sender(stack.url, path, "--reconnect-grace", grace)
    code = link["code"]
    receiver = await Peer.start("receive", code, "-o", str(out), "--server", stack.url, *FAST,
                                "--reconnect-grace", grace)
    await wait_for_progress(out, code, at, tries=3000)
    runs: list[tuple[str, PeerRun]] = []
    if kind == "kill-receiver":
        await receiver.kill()
        await asyncio.sleep(rng.uniform(0, 2))
        again = await Peer.start("receive", code, "-o", str(out), "--server", stack.url, *FAST)
        runs += [("receiver re-run", await finish(again, "receiver re-run")),
                 ("sender", await finish(sender, "sender"))]
    elif kind in ("stop-receiver", "stop-sender"):
        frozen = receiver if kind == "stop-receiver" else sender
        frozen.proc.send_signal(signal.SIGSTOP)
        await asyncio.sleep(rng.uniform(1, 8))
        frozen.proc.send_signal(signal.SIGCONT)
        runs += [("receiver", await finish(receiver, "receiver")),
                 ("sender", await finish(sender, "sender"))]
    elif kind == "kill-sender":
        await sender.kill()
        await asyncio.sleep(rng.uniform(0, 3))
        resumed, _ = await start_sender(stack.url, path, "--resume", code, "--p2p-timeout",
                                        str(rng.choice([2, 5])))
        runs += [("receiver", await finish(receiver, "receiver")),
                 ("resumed sender", await finish(resumed, "resumed sender"))]
    for label, run in runs:
        check(run, label)
    if not received_intact(out, path.name, data):
        # a clear failure on the first run (the sender stored the rest after it gave up):
        # the same command again finishes the transfer
        again = await Peer.start("receive", code, "-o", str(out), "--server", stack.url, *FAST)
        last = await finish(again, "last receive")
        assert last.code == 0, f"{kind}:{seed}: {last.stderr[-2000:]}"
    assert received_intact(out, path.name, data), f"{kind}:{seed}: not received"
    assert not list(out.glob(".sgraph-send-*")), "a work folder was left behind"


async def s3_faults(stack, proxy, rng: random.Random, path: Path, out: Path, data: bytes):
    """Stored and fetched through a proxy failing a seeded share of the presigned requests."""
    proxy.plan = FaultPlan(seed=rng.randrange(1 << 31), rate=rng.uniform(0.1, 0.35))
    sender = await Peer.start("send", str(path), "--server", stack.url, *FAST,
                              "--p2p-timeout", "0")
    code = (await sender.next_event())["code"]
    sent = await finish(sender, "sender")
    assert sent.code == 0, sent.stderr[-2000:]
    received = await finish(await Peer.start("receive", code, "-o", str(out), "--server",
                                             stack.url, *FAST), "receiver")
    assert received.code == 0, f"faults {dict(proxy.injected)}: {received.stderr[-2000:]}"
    assert received_intact(out, path.name, data)
    put_faults = proxy.injected["PUT 503"] + proxy.injected["PUT reset"]
    if put_faults:  # a part sent again is re-sent bytes, and the summary says so
        assert sent.event("summary")["resent_bytes"] > 0, dict(proxy.injected)


@pytest.mark.parametrize("seed", [505])
async def test_signalling_outage_mid_transfer(tmp_path, seed):
    print(f"fault case outage:{seed}")
    rng = random.Random(seed)
    data = rng.randbytes(16 << 20)
    path = tmp_path / "payload.bin"
    path.write_bytes(data)
    out = tmp_path / "out"
    devstack = DevStackProcess()
    info = devstack.__enter__()
    try:
        sender, link = await start_sender(info.ws_url, path)
        receiver = await Peer.start("receive", link["code"], "-o", str(out), "--server",
                                    info.ws_url, *FAST)
        await wait_for_progress(out, link["code"], int(256 * rng.uniform(0.05, 0.7)))
        assert devstack._proc is not None
        devstack._proc.send_signal(signal.SIGKILL)
        devstack._proc.wait()
        received = await finish(receiver, "receiver")
        sent = await finish(sender, "sender")
    finally:
        devstack.__exit__(None, None, None)
    for label, run in (("receiver", received), ("sender", sent)):
        check(run, label)
    # the direct channel was working: it finishes without signalling
    assert received.code == 0 and sent.code == 0, received.stderr[-2000:]
    assert received_intact(out, path.name, data)
