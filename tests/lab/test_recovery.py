"""A transfer whose path breaks mid-way recovers, CLI to CLI.

aiortc has no ICE restart: after a break the peers notice the silence (no heartbeat
for `--silence`), reconnect through signalling with a new peer connection (fresh
candidates, fresh TURN credentials when the old ones expired) and the sender resumes
from the receiver's `have`. A router's cap on its uplink (`tbf`) makes the transfer
last long enough to break it mid-way.
"""

from __future__ import annotations

import asyncio
import os
import re

import pytest

from .conftest import ALLOCATION_LIFETIME, CREDENTIAL_TTL
from .parties import lab_transfer
from .test_paths import route

pytestmark = pytest.mark.lab
MiB = 1 << 20


async def wait_for_bytes(lab, lan, at_least: int, timeout: float = 120) -> None:
    """Until the router has forwarded `at_least` bytes into its LAN (mid-transfer)."""
    start = lab.counter(lan.router, "to_lan", "bytes")
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while lab.counter(lan.router, "to_lan", "bytes") - start < at_least:
        assert loop.time() < deadline, "the transfer never got going"
        await asyncio.sleep(0.2)


async def test_router_address_change_mid_transfer_reconnects_and_resumes(lab, net, tmp_path):
    sender_lan, receiver_lan = lab.lans[0], lab.lans[1]  # both endpoint-independent NAT
    size = 12 * MiB
    data = os.urandom(size)
    (tmp_path / "film.mkv").write_bytes(data)
    changed: list[str] = []

    async def change_address() -> None:
        await wait_for_bytes(lab, receiver_lan, size // 4)
        # every mapping the router made (the peer-to-peer flow, the signalling
        # WebSocket) is gone with its old address
        changed.append(lab.change_wan_address(receiver_lan, 112))

    lab.limit_rate(sender_lan, 24)  # ~3 MB/s: the file takes seconds, not a blink
    try:
        sent, received = await lab_transfer(
            lab, net, sender_lan.hosts[0], receiver_lan.hosts[0], tmp_path / "film.mkv",
            tmp_path / "out", during=change_address)
    finally:
        lab.limit_rate(sender_lan, None)
        lab.change_wan_address(receiver_lan, 10 + receiver_lan.index)
    assert changed, "the address never changed"
    assert sent.code == 0, sent.stderr[-3000:]
    assert received.code == 0, received.stderr[-3000:]
    assert (tmp_path / "out" / "film.mkv").read_bytes() == data
    for run in (sent, received):
        summary = run.event("summary")
        assert summary["path"] == "p2p", summary  # recovered peer to peer, not via storage
        assert summary["reconnects"] >= 1, summary
        local, remote = route(run)
        assert local == "host" and remote in ("srflx", "prflx"), summary
    # resumed from the receiver's `have`: only what was in flight went again (1-2 MiB
    # seen: what was in flight when the path broke), never more than the sender's window
    summary = sent.event("summary")
    assert summary["resent_bytes"] <= summary["window_bytes"] <= 8 * MiB, summary


async def test_turn_credentials_expire_mid_transfer(lab, short_lived, tmp_path):
    """A relayed transfer outlives its TURN credentials: coturn refreshes an allocation
    whose credential has expired (it checks the REST timestamp only when it first
    derives the session's key), and a reconnect after expiry allocates again with
    fresh credentials from the relay (a stale one would be refused with 401)."""
    assert ALLOCATION_LIFETIME * 5 / 6 > CREDENTIAL_TTL  # aioice refreshes at 5/6
    sender_lan, receiver_lan = lab.lans[2], lab.lans[3]  # symmetric NAT: TURN or nothing
    size = 20 * MiB
    data = os.urandom(size)
    (tmp_path / "backup.tar").write_bytes(data)
    changed: list[str] = []

    async def break_after_a_refresh() -> None:
        # at most 1 MB/s: 14 MiB forwarded means more than 14 s since the allocations,
        # past their first refresh (12.5 s), made with credentials dead for seconds
        await wait_for_bytes(lab, receiver_lan, 14 * MiB, timeout=200)
        changed.append(lab.change_wan_address(receiver_lan, 114))

    lab.limit_rate(sender_lan, 8)
    try:
        sent, received = await lab_transfer(
            lab, short_lived, sender_lan.hosts[0], receiver_lan.hosts[0],
            tmp_path / "backup.tar", tmp_path / "out", send_args=("-v",),
            receive_args=("-v",), during=break_after_a_refresh)
    finally:
        lab.limit_rate(sender_lan, None)
        lab.change_wan_address(receiver_lan, 10 + receiver_lan.index)
    assert changed, "the path was never broken"
    assert sent.code == 0, sent.stderr[-3000:]
    assert received.code == 0, received.stderr[-3000:]
    assert (tmp_path / "out" / "backup.tar").read_bytes() == data
    for run in (sent, received):
        summary = run.event("summary")
        assert summary["path"] == "p2p", summary  # no chunk needed storage
        assert summary["reconnects"] >= 1 and "relay" in route(run), summary
        # aioice's log: the allocation was refreshed with the expired credential ...
        assert "TURN allocation refreshed" in run.stderr, run.stderr[-3000:]
        # ... and never refused for the connection that finished. (The broken
        # connection's allocation may be: its refresh after the address change comes
        # from a new address, which coturn takes for a new session with a dead
        # credential, 401.)
        created = re.findall(r"TURN allocation created (\('[^)]*\))", run.stderr)
        assert created, run.stderr[-3000:]
        assert f"TURN allocation refresh failed {created[-1]}" not in run.stderr, \
            run.stderr[-3000:]
        # ... and every connection, the reconnect's included, allocated with fresh
        # ones: renewed through the relay, except the receiver's first, whose `ready`
        # follows its `hello` at once (protocol.md 2.3) with the welcome's credentials,
        # seconds old; the sender's first comes after its welcome's credentials died
        renewed = run.stderr.count("renewed the TURN credentials")
        first = 1 if run is sent else 0
        assert renewed >= summary["reconnects"] + first, run.stderr[-3000:]
