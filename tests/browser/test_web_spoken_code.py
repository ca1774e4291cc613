"""Spoken codes between the page (real Chromium) and the CLI, both ways, right and wrong."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from .conftest import ROOT, Stack
from .test_web_client import CLI, FAST, finish, open_send_page, random_file

pytestmark = [pytest.mark.browser, pytest.mark.e2e, pytest.mark.timeout(180)]


def mishear(code: str) -> str:
    number, w1, w2, w3 = code.split("-")
    return "-".join([number, w1, w2, "amulet" if w3 != "amulet" else "adroitness"])


def page_offers_code(tab, stack: Stack, source: Path) -> str:
    open_send_page(tab, stack.info.web_url)
    tab.page.check("#use-code")
    tab.page.set_input_files("#file", str(source))
    tab.page.wait_for_function("() => window.sgraph.code")
    code: str = tab.sgraph("code")
    assert tab.page.inner_text("#spoken-code") == code
    return code


def cli_receive(stack: Stack, code: str, out: Path) -> subprocess.CompletedProcess[str]:
    proc = subprocess.Popen(
        # the page's own attempt timeout (15 s), so a retried attempt lines up with the page's
        [*CLI, "receive", code, "-o", str(out), "--server", stack.info.ws_url, "--json",
         "--reconnect-grace", "10", "-v"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        out_text, err = proc.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        proc.kill()
        out_text, err = proc.communicate()
        raise AssertionError(f"receive hung; stdout {out_text[-2000:]} stderr {err[-4000:]}") \
            from None
    return subprocess.CompletedProcess(proc.args, proc.returncode, out_text, err)


def cli_offers_code(stack: Stack, source: Path) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [*CLI, "send", str(source), "--code", "--server", stack.info.ws_url, "--json", *FAST,
         "--no-storage"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    assert proc.stdout is not None
    shown = json.loads(proc.stdout.readline())
    assert shown["event"] == "code", shown
    return proc, shown["code"]


def page_types_code(tab, stack: Stack, code: str) -> None:
    open_send_page(tab, stack.info.web_url)
    tab.page.fill("#code-input", code)
    tab.page.click("#code-go")


def test_page_sends_to_cli_with_a_spoken_code(new_tab, stack: Stack, tmp_path: Path) -> None:
    source = random_file(tmp_path, "spoken.bin", 2_000_000 + 11)
    tab = new_tab()
    code = page_offers_code(tab, stack, source)
    tab.shot("code-1-sender-shows-code")
    received = cli_receive(stack, code, tmp_path / "out")
    assert received.returncode == 0, received.stderr[-3000:]
    assert (tmp_path / "out" / source.name).read_bytes() == source.read_bytes()
    assert tab.wait_state("done", "failed") == "done", tab.sgraph("error")
    assert code not in stack.relayed_text() and "-".join(code.split("-")[1:]) not in \
        stack.relayed_text()
    assert not tab.errors, tab.errors


def test_page_sender_and_cli_receiver_with_a_wrong_code(new_tab, stack: Stack,
                                                        tmp_path: Path) -> None:
    source = random_file(tmp_path, "spoken.bin", 100_000)
    tab = new_tab()
    code = page_offers_code(tab, stack, source)
    received = cli_receive(stack, mishear(code), tmp_path / "out")
    assert received.returncode == 3, received.stderr[-3000:]
    assert "Wrong code" in received.stderr
    assert tab.wait_state("done", "failed") == "failed"
    assert tab.sgraph("error.code") == "wrong-code"
    assert tab.page.inner_text("#error-title") == "Wrong code"
    tab.shot("code-2-wrong-code")
    assert not (tmp_path / "out" / source.name).exists()


def test_cli_sends_to_page_with_a_spoken_code(new_tab, stack: Stack, tmp_path: Path) -> None:
    source = random_file(tmp_path, "to-page.bin", 3_000_000 + 5)
    sender, code = cli_offers_code(stack, source)
    tab = new_tab()
    with tab.page.expect_download(timeout=120_000) as download:
        page_types_code(tab, stack, code)
        assert tab.wait_state("done", "failed") == "done", tab.sgraph("error")
    target = tmp_path / "downloaded.bin"
    download.value.save_as(target)
    assert target.read_bytes() == source.read_bytes()
    status, events, err = finish(sender)
    assert status == 0, err[-3000:]
    assert events[-1]["path"] == "p2p"
    assert not tab.errors, tab.errors


def test_cli_sender_and_page_receiver_with_a_wrong_code(new_tab, stack: Stack,
                                                        tmp_path: Path) -> None:
    source = random_file(tmp_path, "to-page.bin", 100_000)
    sender, code = cli_offers_code(stack, source)
    tab = new_tab()
    page_types_code(tab, stack, mishear(code))
    assert tab.wait_state("done", "failed") == "failed"
    assert tab.sgraph("error.code") == "wrong-code"
    status, events, err = finish(sender)
    assert status == 3, err[-3000:]
    assert events[-1]["error"] == "WrongCodeError"
