"""Chromium inside a LAN namespace, against a CLI behind another NAT.

Page to CLI through symmetric NATs on both sides: the only path is the lab's TURN
relay. CLI to page through endpoint-independent NATs: a direct path. Both the page's
summary and the CLI's selected pair say which.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys

import pytest

from tests.e2e.peers import ROOT

from .conftest import CREDENTIAL_TTL
from .parties import LAB_FAST, start_peer
from .test_paths import route

pytestmark = [pytest.mark.lab, pytest.mark.browser]


async def page_to_cli(lab, net, tmp_path, page_ns, cli_ns, *page_args, receiver_after=0.0):
    """The page in `page_ns` sends 2 MiB to a CLI in `cli_ns`, which starts
    `receiver_after` seconds after the page showed its link: the CLI's run, the page's
    end (state and summary)."""
    data = os.urandom(2 << 20)
    (tmp_path / "scan.pdf").write_bytes(data)
    page = await asyncio.create_subprocess_exec(
        *lab.command(page_ns, [
            # a generous P2P deadline (?p2p=): a busy machine must not turn this into S3
            sys.executable, "-m", "tests.lab.browser_peer", "send",
            net.info["web_url"] + "?p2p=90", str(tmp_path / "scan.pdf"), *page_args]),
        cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    try:
        assert page.stdout is not None
        line = await asyncio.wait_for(page.stdout.readline(), 120)
        assert line, (await page.stderr.read()).decode()[-3000:]  # type: ignore[union-attr]
        link = json.loads(line)["link"]
        await asyncio.sleep(receiver_after)
        receiver = await start_peer(lab, cli_ns, "receive", link,
                                    "-o", str(tmp_path / "out"), "--server", net.url,
                                    "--ice", "any", *LAB_FAST)
        received = await receiver.finish(180)
        end = json.loads(await asyncio.wait_for(page.stdout.readline(), 120))
    finally:
        if page.returncode is None:
            page.kill()
        await page.communicate()
    assert received.code == 0, received.stderr[-3000:]
    assert (tmp_path / "out" / "scan.pdf").read_bytes() == data
    assert received.event("summary")["path"] == "p2p", received.event("summary")
    assert end["state"] == "done", end
    return received, end


async def test_page_to_cli_through_symmetric_nats_relays(lab, net, tmp_path):
    received, end = await page_to_cli(lab, net, tmp_path, lab.lans[2].hosts[0],
                                      lab.lans[3].hosts[0])
    assert "relay" in route(received), received.event("summary")
    assert end["summary"]["path"] == "relay", end


async def test_page_relay_only_control_hides_its_address(lab, short_lived, tmp_path):
    """Through endpoint-independent NATs the page would pair directly (the test below);
    with its "relay only" box ticked it relays, and the CLI never sees its address.

    Through the stack whose TURN credentials live 8 s, the CLI arriving after the page's
    welcome credentials died: a relay-only page has no candidate but its own TURN
    allocation, and coturn refuses one with expired credentials, so it relays only
    because it renewed them for its connection attempt (web/js/turn.js)."""
    page_lan, cli_lan = lab.lans[0], lab.lans[1]
    seen = lab.counter(cli_lan.router, "from_peers")
    received, end = await page_to_cli(lab, short_lived, tmp_path, page_lan.hosts[0],
                                      cli_lan.hosts[0], "--relay-only",
                                      receiver_after=CREDENTIAL_TTL + 3)
    assert route(received)[1] == "relay", received.event("summary")
    assert end["summary"]["path"] == "relay", end
    # no packet from the page's router reached the CLI's: only the TURN server's
    assert lab.counter(cli_lan.router, "from_peers") == seen


async def test_cli_to_page_through_endpoint_independent_nats_is_direct(lab, net, tmp_path):
    data = os.urandom(2 << 20)
    (tmp_path / "photos.zip").write_bytes(data)
    sender = await start_peer(lab, lab.lans[1].hosts[0], "send", str(tmp_path / "photos.zip"),
                              "--server", net.url, "--ice", "any", "--link-base",
                              net.info["web_url"], *LAB_FAST, "--p2p-timeout", "90")
    try:
        link = await sender.next_event(60)
        page = await asyncio.create_subprocess_exec(
            *lab.command(lab.lans[0].hosts[0], [
                sys.executable, "-m", "tests.lab.browser_peer", "receive", link["link"],
                str(tmp_path / "saved.zip")]),
            cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(page.communicate(), 200)
        sent = await sender.finish(60)
    finally:
        await sender.kill()
    assert out, err.decode()[-3000:]
    end = json.loads(out.decode().splitlines()[-1])
    assert sent.code == 0, sent.stderr[-3000:]
    assert end["state"] == "done", end
    assert (tmp_path / "saved.zip").read_bytes() == data
    assert end["summary"]["path"] == "direct", end
    local, remote = route(sent)
    assert local == "host" and remote in ("srflx", "prflx"), sent.event("summary")
