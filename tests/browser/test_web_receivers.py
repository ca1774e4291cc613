"""The page as one of several receivers of a CLI sender (`send --receivers 2`, #15): it
gets the file over its own channel, byte for byte, and its signed receipt (made with Web
Crypto) is verified by the Python sender."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from .conftest import ROOT, Stack
from .test_web_client import (
    CLI,
    FAST,
    assert_fragment_stayed,
    finish,
    random_file,
    start_cli_sender,
)

pytestmark = [pytest.mark.browser, pytest.mark.e2e, pytest.mark.timeout(150)]


def test_page_is_one_of_two_receivers_and_its_receipt_verifies(new_tab, stack: Stack,
                                                                 tmp_path: Path) -> None:
    source = random_file(tmp_path, "for-the-team.bin", 2_000_000 + 11)
    sender, link = start_cli_sender(stack, source, stack.info.web_url,
                                    "--receivers", "2", "--no-storage")
    cli = subprocess.Popen(
        [*CLI, "receive", link["code"], "-o", str(tmp_path / "cli-out"), "--server",
         stack.info.ws_url, "--json", *FAST],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    tab = new_tab()
    with tab.page.expect_download(timeout=120_000) as download:
        tab.page.goto(link["link"])
        assert tab.wait_state("done", "failed", timeout=120_000) == "done", tab.sgraph("error")
    target = tmp_path / "page.bin"
    download.value.save_as(target)
    assert target.read_bytes() == source.read_bytes()
    page_receipt = tab.sgraph("summary.receipt")
    assert page_receipt["path"] == "p2p" and len(page_receipt["receiver"]) == 16
    out, err = cli.communicate(timeout=120)
    assert cli.returncode == 0, err[-3000:]
    assert (tmp_path / "cli-out" / source.name).read_bytes() == source.read_bytes()
    cli_receipt = json.loads(out.splitlines()[-1])["receipts"][0]
    code, events, err = finish(sender, timeout=120)
    assert code == 0, err[-3000:]
    summary = events[-1]
    assert summary["event"] == "summary" and summary["path"] == "p2p"
    assert [r["outcome"] for r in summary["receivers"]] == ["delivered", "delivered"]
    # both receipts verified by the Python sender: the page's and the CLI's
    assert {r["receiver"] for r in summary["receipts"]} == {page_receipt["receiver"],
                                                            cli_receipt["receiver"]}
    assert_fragment_stayed(tab, link["code"], stack)
