"""Phones and reloads (#15 §4): the link as a QR code, the page at phone width, a
receiving page that resumes after a reload, a sending page that resumes its upload."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest
from playwright.sync_api import Request, Route

from tests.qr_decode import decode_png, reference_matrix
from transfer_core.protocol.layout import DEFAULT_RECORD_SIZE, OVERHEAD
from transfer_core.qr import qr_matrix, qr_symbol

from .conftest import ROOT, SCREENSHOTS, Stack, Tab
from .test_web_client import (
    CLI,
    FAST,
    assert_fragment_stayed,
    finish,
    open_send_page,
    random_file,
    start_cli_sender,
)

pytestmark = [pytest.mark.browser, pytest.mark.e2e, pytest.mark.timeout(180)]

PHONE = {"width": 390, "height": 844}
MiB = 1024 * 1024


def assert_fits_phone(tab: Tab, *visible: str) -> None:
    """Nothing wider than the 390 px screen; the named controls shown and on screen."""
    widths = tab.page.evaluate(
        "() => [document.documentElement.scrollWidth, document.body.scrollWidth]")
    assert max(widths) <= PHONE["width"], widths
    for selector in visible:
        box = tab.page.locator(selector).bounding_box()
        assert tab.page.is_visible(selector) and box is not None, selector
        assert box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"], (selector, box)


def phone_shot(tab: Tab, tmp_path: Path, name: str) -> Path:
    path = tmp_path / f"{name}.png"
    tab.page.screenshot(path=str(path), full_page=True)
    tab.shot(name)  # and beside the other screenshots (test-output/screenshots/)
    return path


def test_send_page_at_phone_width_shows_the_link_as_a_qr_code(
    new_tab, stack: Stack, tmp_path: Path
) -> None:
    tab = new_tab()
    tab.page.set_viewport_size(PHONE)
    open_send_page(tab, f"{stack.info.web_url}?storage=0")
    assert_fits_phone(tab, "#drop", "#code-input", "#code-go", "#use-code")
    assert not tab.page.is_visible("#pending")
    # an interrupted upload noted by an earlier visit (upload-resume.js) is listed; a
    # person can forget it
    tab.page.evaluate(
        """() => localStorage.setItem("sgraph-send-upload:00ff", JSON.stringify({
             code: "x", name: "a rather long name of an earlier holiday video.mp4",
             size: 123456789, lastModified: 1, manifest: "", first: 0, started: Date.now() }))""")
    tab.page.reload()
    tab.page.wait_for_function("() => window.sgraph && window.sgraph.pending")
    assert_fits_phone(tab, "#pending", "#pending-forget", "#drop")
    phone_shot(tab, tmp_path, "phone-1-send-idle")
    tab.page.click("#pending-forget")
    assert not tab.page.is_visible("#pending")
    assert tab.page.evaluate("() => localStorage.length") == 0
    tab.page.set_input_files("#file", str(random_file(tmp_path, "holiday photo.jpg", 5000)))
    tab.page.wait_for_function("() => window.sgraph.qr")
    tab.wait_state("waiting")
    link = tab.sgraph("link")
    assert_fits_phone(tab, "#link", "#copy", "#qr", "#progress")
    shot = phone_shot(tab, tmp_path, "phone-2-send-link-qr")

    qr = tab.sgraph("qr")
    # the CLI's level and version for the same link (segno and uqr place the same bits
    # differently: both decode, see transfer_core/qr.py)
    cli = qr_symbol(link)
    assert (qr["ecc"], qr["version"]) == (cli.error, cli.version) == ("M", 5), (qr, cli)
    assert len(qr["rows"]) == len(qr_matrix(link)) == 17 + 4 * qr["version"]
    # module for module an independent encoder's symbol for the same text, level and mask
    rows = [[c == "1" for c in row] for row in qr["rows"]]
    assert rows == reference_matrix(link, qr["mask"])
    # what the canvas shows decodes, with a real decoder, to the whole link
    canvas = tmp_path / "qr-canvas.png"
    tab.page.locator("#qr").screenshot(path=str(canvas))
    assert decode_png(canvas) == [link]
    assert decode_png(shot) == [link]  # the whole phone screen too, as a camera sees it
    # drawn in the page only: no request of the page and no relayed frame carries the code
    assert_fragment_stayed(tab, link.split("#", 1)[1], stack)
    assert SCREENSHOTS.joinpath("phone-2-send-link-qr.png").exists()


OPFS_FOLDERS = """async () => {
  const names = [];
  for await (const name of (await navigator.storage.getDirectory()).keys()) names.push(name);
  return names.filter((n) => n.startsWith("sgraph-send-r-"));
}"""


def test_receiving_page_reloaded_mid_transfer_resumes(
    new_tab, stack: Stack, tmp_path: Path
) -> None:
    """CLI → page at phone width; the page is reloaded mid-way: it reads back what it had
    verified (OPFS), says so in its first `have`, and gets only the rest."""
    size = 40 * MiB + 5
    source = random_file(tmp_path, "reloaded.bin", size)
    sender, link = start_cli_sender(stack, source, stack.info.web_url)
    tab = new_tab()
    tab.page.set_viewport_size(PHONE)
    tab.page.goto(link["link"])
    past = "() => { const p = document.getElementById('progress'); return p.value > %s * p.max; }"
    tab.page.wait_for_function(past % 0.05, timeout=60_000, polling=20)
    assert_fits_phone(tab, "#progress", "#file-name")
    phone_shot(tab, tmp_path, "phone-3-receive-transferring")
    # reloaded at once past a quarter (a fast transfer ends within a second or two: the
    # checks above stay before it)
    tab.page.wait_for_function(past % 0.25, timeout=60_000, polling=20)
    with tab.page.expect_download(timeout=90_000) as download:
        tab.page.reload()
        tab.wait_state("done", "failed", timeout=90_000)
    assert tab.sgraph("state()") == "done", tab.sgraph("error")
    target = tmp_path / "downloaded.bin"
    download.value.save_as(target)
    assert target.read_bytes() == source.read_bytes()
    summary = tab.sgraph("summary")
    assert summary["sink"] == "opfs" and summary["path"] == "direct", summary
    # the reloaded page started from what the first visit had kept (segments of whole
    # chunks, each closed once it passed 4 MiB)
    resumed = summary["resumedBytes"]
    assert 4 * MiB <= resumed < size and resumed % (DEFAULT_RECORD_SIZE - OVERHEAD) == 0, summary
    assert "kept from before a reload" in tab.page.inner_text("#status")
    assert_fits_phone(tab, "#saved", "#progress")
    phone_shot(tab, tmp_path, "phone-4-receive-done")
    assert_fragment_stayed(tab, link["code"], stack)
    code, events, err = finish(sender)
    assert code == 0, err[-3000:]
    sent = events[-1]
    # the sender re-sent only what the first visit had not kept: less than the file
    assert sent["reconnects"] >= 1 and sent["resent_bytes"] < size - resumed + MiB, sent
    assert sent["resent_bytes"] < size
    # the folder kept for a reload goes at the next visit, the file being saved
    assert tab.page.evaluate(OPFS_FOLDERS), "nothing was kept in OPFS"
    open_send_page(tab, stack.info.web_url)
    tab.page.wait_for_function("() => window.sgraph.cleaned")
    tab.page.evaluate("() => window.sgraph.cleaned")
    assert tab.page.evaluate(OPFS_FOLDERS) == []


def test_sending_page_finishes_an_interrupted_upload_when_the_same_file_is_picked(
    new_tab, stack: Stack, tmp_path: Path
) -> None:
    """The page's upload (no receiver, `?p2p=1`) breaks after part 1 of 2; after a reload
    the page refuses a different file with the same name, size and date, then finishes the
    same file on the same link, sending only part 2; the CLI receives it whole."""
    source = random_file(tmp_path, "upload.bin", 9 * MiB)  # parts of 8 MiB and 1 MiB
    impostor_dir = tmp_path / "other"
    impostor_dir.mkdir()
    impostor = random_file(impostor_dir, "upload.bin", 9 * MiB)
    stat = source.stat()
    os.utime(impostor, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    tab = new_tab()
    puts: list[str] = []

    def note_put(r: Request) -> None:
        if r.method == "PUT":
            puts.append(r.url)

    tab.page.on("request", note_put)

    def refuse_later_parts(route: Route) -> None:
        # storage refuses part 2 (a 400 is not retried): the upload stops half-done
        if re.search(r"[?&]partNumber=2\b", route.request.url):
            route.fulfill(status=400, body="refused by the test",
                          headers={"Access-Control-Allow-Origin": "*"})
        else:
            route.continue_()

    tab.page.route(lambda url: "partNumber=" in url, refuse_later_parts)
    open_send_page(tab, f"{stack.info.web_url}?p2p=1")
    tab.page.set_input_files("#file", str(source))
    tab.page.wait_for_function("() => window.sgraph.link")
    link = tab.sgraph("link")
    assert tab.wait_state("failed", "stored", timeout=60_000) == "failed"
    assert tab.sgraph("error.kind") == "storage", tab.sgraph("error")
    assert sorted(part_numbers(puts)) == ["1", "2"], puts
    tab.page.unroute_all()

    # reloaded: the page lists the interrupted upload; another file alike is refused
    tab.page.reload()
    tab.page.wait_for_function("() => window.sgraph && window.sgraph.pending")
    assert tab.sgraph("pending") == [{"name": "upload.bin", "size": 9 * MiB, "first": 0}]
    assert tab.page.is_visible("#pending")
    puts.clear()
    tab.page.set_input_files("#file", str(impostor))
    assert tab.wait_state("failed", "stored", timeout=60_000) == "failed"
    assert tab.sgraph("error") == {
        "kind": "source-changed", "code": "not-the-same-file",
        "message": tab.sgraph("error.message")}, tab.sgraph("error")
    assert "not the file whose upload was interrupted" in tab.sgraph("error.message")
    assert puts == []  # refused before anything was sent

    # the same file: same link, and only the parts S3 lacks
    tab.page.reload()
    tab.page.wait_for_function("() => window.sgraph && window.sgraph.pending")
    tab.page.set_input_files("#file", str(source))
    assert tab.wait_state("stored", "failed", timeout=60_000) == "stored", tab.sgraph("error")
    assert tab.sgraph("link") == link
    assert part_numbers(puts) == ["2"], puts
    # the note kept the code in this browser: no request and no relayed frame carries it
    assert_fragment_stayed(tab, link.split("#", 1)[1], stack)
    assert tab.sgraph("summary.stored.parts") == 2
    assert tab.page.evaluate(
        "() => Object.keys(localStorage).filter((k) => k.startsWith('sgraph-send-upload:'))") == []
    tab.page.close()

    out = tmp_path / "out"
    received = subprocess.run(
        [*CLI, "receive", link, "-o", str(out), "--server", stack.info.ws_url, "--json", *FAST],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )
    assert received.returncode == 0, received.stderr[-3000:]
    result = json.loads(received.stdout.splitlines()[-1])
    assert result["path"] == "s3" and result["sha256_verified"], result
    assert (out / source.name).read_bytes() == source.read_bytes()


def part_numbers(urls: list[str]) -> list[str]:
    return [m.group(1) for url in urls if (m := re.search(r"[?&]partNumber=(\d+)", url))]
