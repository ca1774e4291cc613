"""Chromium inside a LAN namespace: the page sends to a CLI behind another NAT.

Page to CLI through symmetric NATs on both sides: the only path is the lab's TURN
relay, and both the page's summary and the CLI's selected pair say so.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys

import pytest

from tests.e2e.peers import ROOT

from .parties import LAB_FAST, start_peer
from .test_paths import route

pytestmark = [pytest.mark.lab, pytest.mark.browser]


async def test_page_to_cli_through_symmetric_nats_relays(lab, net, tmp_path):
    data = os.urandom(2 << 20)
    (tmp_path / "scan.pdf").write_bytes(data)
    page = await asyncio.create_subprocess_exec(
        *lab.command(lab.lans[2].hosts[0], [sys.executable, "-m", "tests.lab.browser_peer",
                                             net.info["web_url"], str(tmp_path / "scan.pdf")]),
        cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    try:
        assert page.stdout is not None
        line = await asyncio.wait_for(page.stdout.readline(), 120)
        assert line, (await page.stderr.read()).decode()[-3000:]  # type: ignore[union-attr]
        link = json.loads(line)["link"]
        receiver = await start_peer(lab, lab.lans[3].hosts[0], "receive", link,
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
    assert "relay" in route(received), received.event("summary")
    assert end["state"] == "done", end
    assert end["summary"]["path"] == "relay", end
