"""Several receivers (#15 §2) with the page on either side. The page as one of several
receivers of a CLI sender (`send --receivers 2`): it gets the file over its own channel,
byte for byte, and its signed receipt (made with Web Crypto) is verified by the Python
sender. The page as the sender to two CLI receivers, one late (web/js/fanout.js): both
byte-identical, both receipts verified and shown on their receivers' lines."""

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
    open_send_page,
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


@pytest.mark.timeout(300)  # two CLI receivers one after the other, on a loaded machine
def test_page_sends_to_two_cli_receivers_one_late_with_both_receipts(new_tab, stack: Stack,
                                                                     tmp_path: Path) -> None:
    # more receivers than the stack takes (MAX_RECEIVERS 2): said before any link is shown
    tab = new_tab()
    open_send_page(tab, stack.info.web_url)
    tab.page.fill("#receivers", "3")
    tab.page.set_input_files("#file", str(random_file(tmp_path, "x.bin", 1000)))
    assert tab.wait_state("done", "failed") == "failed"
    assert tab.sgraph("error.kind") == "receivers"
    assert "at most 2 receivers" in tab.sgraph("error.message")
    assert not tab.sgraph("link")

    source = random_file(tmp_path, "to-the-team.bin", 6_000_000 + 17)
    tab = new_tab()
    open_send_page(tab, stack.info.web_url)
    tab.page.fill("#receivers", "2")
    tab.page.set_input_files("#file", str(source))
    tab.page.wait_for_function("() => window.sgraph.link")
    link = tab.sgraph("link")

    def receive(n: int) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [*CLI, "receive", link, "-o", str(tmp_path / f"out{n}"), "--server",
             stack.info.ws_url, "--json", *FAST, "-v"],
            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )

    def wait(n: int, proc: subprocess.Popen[str]) -> subprocess.CompletedProcess[str]:
        try:
            out, err = proc.communicate(timeout=120)
        except subprocess.TimeoutExpired:  # say what the CLI and the page were doing
            proc.kill()
            out, err = proc.communicate()
            pytest.fail(f"CLI receiver {n} did not finish in 120 s; page state"
                        f" {tab.sgraph('state()')!r}, lanes {tab.sgraph('lanes')!r},"
                        f" console {tab.console[-20:]!r}; its log:\n{err[-4000:]}")
        assert proc.returncode == 0, err[-3000:]
        return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)

    early = receive(1)
    # the second opens the link once the first is being sent to: a lane of its own, most
    # likely while the first's still runs (two channels from the page at once)
    tab.page.wait_for_function("() => window.sgraph.lanes?.[1]?.done > 0", timeout=90_000)
    late = receive(2)
    first, second = wait(1, early), wait(2, late)
    ids = []
    for n, run in ((1, first), (2, second)):
        assert (tmp_path / f"out{n}" / source.name).read_bytes() == source.read_bytes()
        summary = json.loads(run.stdout.splitlines()[-1])
        assert summary["path"] == "p2p" and summary["sha256_verified"]
        ids.append(summary["receipts"][0]["receiver"])
    assert tab.wait_state("done", "failed", timeout=60_000) == "done", tab.sgraph("error")
    summary = tab.sgraph("summary")
    assert [(r["receiver"], r["outcome"]) for r in summary["receivers"]] == [
        (1, "delivered"), (2, "delivered")]
    # both receipts verified by the page, each on its receiver's line, in arrival order
    assert [(r["receiver_number"], r["receiver"]) for r in summary["receipts"]] == [
        (1, ids[0]), (2, ids[1])]
    assert all(r["size"] == source.stat().st_size and r["path"] == "p2p"
               for r in summary["receipts"])
    lanes = tab.sgraph("lanes")
    assert [lanes[k]["receipt"]["receiver"] for k in ("1", "2")] == ids
    assert all(lanes[k]["done"] == lanes[k]["total"] == source.stat().st_size for k in ("1", "2"))
    tab.shot("send-several-done")
    assert_fragment_stayed(tab, link.split("#", 1)[1], stack)
