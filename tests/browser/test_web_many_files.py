"""Many files and folders between the page (Debian chromium) and the CLI (#15 §1): a folder
picked in the page arrives as a tree at the CLI; a folder sent by the CLI arrives in the
page as one verified download per file (no folder picker in a headless browser)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from transfer_core.protocol.layout import DEFAULT_RECORD_SIZE, OVERHEAD

from .conftest import ROOT, Stack
from .test_web_client import (
    CLI,
    FAST,
    P2P_WAIT,
    assert_fragment_stayed,
    finish,
    open_send_page,
    start_cli_sender,
)

pytestmark = [pytest.mark.browser, pytest.mark.e2e, pytest.mark.timeout(180)]


def small_tree(root: Path) -> dict[str, bytes]:
    files = {
        "album/a.jpg": os.urandom(200_000),
        "album/sub/deeper/b.bin": os.urandom(70_001),
        "album/sub/empty.txt": b"",
        "album/notes.txt": "ünïcode names ✓\n".encode(),
        "album/zz.dat": os.urandom(5),
    }
    for rel, data in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)
    return files


def test_page_sends_a_folder_to_the_cli(new_tab, stack: Stack, tmp_path: Path) -> None:
    files = small_tree(tmp_path / "src")
    tab = new_tab()
    open_send_page(tab, f"{stack.info.web_url}?p2p={P2P_WAIT}")
    tab.page.set_input_files("#folder", str(tmp_path / "src" / "album"))
    tab.page.wait_for_function("() => window.sgraph.link", timeout=60_000)
    link = tab.sgraph("link")
    out = tmp_path / "out"
    log = tmp_path / "receiver.log"
    try:
        with open(log, "w") as err:
            received = subprocess.run(
                [*CLI, "receive", link, "-o", str(out), "--server", stack.info.ws_url, "--json",
                 "-vv", *FAST], cwd=ROOT, stdout=subprocess.PIPE, stderr=err, text=True,
                timeout=90,
            )
    except subprocess.TimeoutExpired:  # say where each side was
        state = tab.page.evaluate("document.body.dataset.state + ': ' +"
                                  " document.getElementById('status').textContent")
        raise AssertionError(f"page {state}; {tab.console[-10:]}; receiver:"
                             f" {log.read_text()[-2000:]}") from None
    assert received.returncode == 0, log.read_text()[-3000:]
    summary = json.loads(received.stdout.splitlines()[-1])
    assert summary["path"] == "p2p" and summary["sha256_verified"], (
        summary, tab.console[-10:], log.read_text()[-3000:])
    for rel, data in files.items():
        assert (out / rel).read_bytes() == data, rel
    kinds = {e["path"]: e["kind"] for e in summary["entries"]}
    assert kinds["album/sub/deeper"] == "dir" and kinds["album/sub/empty.txt"] == "file"
    assert tab.wait_state("done", "failed") == "done", tab.sgraph("error")
    assert_fragment_stayed(tab, link.split("#", 1)[1], stack)


def test_cli_sends_a_folder_to_the_page(new_tab, stack: Stack, tmp_path: Path) -> None:
    files = small_tree(tmp_path / "src")
    (tmp_path / "src" / "album" / "empty folder").mkdir()
    # no folder picker in a headless browser: one download per file
    proc, link = start_cli_sender(stack, tmp_path / "src" / "album",
                                  f"{stack.info.web_url}?save=opfs")
    tab = new_tab()
    downloads = []
    tab.page.on("download", lambda d: downloads.append(d))
    tab.page.goto(link["link"])
    assert tab.wait_state("done", "failed", timeout=120_000) == "done", tab.sgraph("error")
    tab.page.wait_for_timeout(500)  # the last download's event
    got = {}
    for download in downloads:
        target = tmp_path / "downloads" / download.suggested_filename
        download.save_as(target)
        got[download.suggested_filename] = target.read_bytes()
    # a download cannot make folders: `album/sub/empty.txt` arrives as `album_sub_empty.txt`
    assert got == {rel.replace("/", "_"): data for rel, data in files.items()}
    saved = [s["path"] for s in tab.sgraph("saved")]
    assert saved == [rel for rel in sorted(files, key=lambda p: p.split("/"))]
    summary = tab.sgraph("summary")
    assert {e["path"] for e in summary["entries"]} >= {"album/empty folder", "album/sub/deeper"}
    code, events, err = finish(proc)
    assert code == 0, err[-3000:]
    assert events[-1]["path"] == "p2p" and events[-1]["sha256_verified"]
    assert_fragment_stayed(tab, link["code"], stack)


def test_page_reloaded_mid_folder_keeps_the_files_it_saved(
    new_tab, stack: Stack, tmp_path: Path
) -> None:
    """CLI → page, a folder of four 3 MiB files (one download each); the page is reloaded
    once a file is saved: the files saved before are not fetched again (the first `have`
    names the chunks before the first file not saved), each file is downloaded once."""
    mib = 1024 * 1024
    files = {f"big/{i}.bin": os.urandom(3 * mib + 7 * i) for i in range(4)}
    files["big/z-empty.txt"] = b""
    for rel, data in files.items():
        (tmp_path / "src" / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "src" / rel).write_bytes(data)
    total = sum(map(len, files.values()))
    sender, link = start_cli_sender(stack, tmp_path / "src" / "big",
                                    f"{stack.info.web_url}?save=opfs")
    tab = new_tab()
    downloads = []
    tab.page.on("download", lambda d: downloads.append(d))
    tab.page.goto(link["link"])
    tab.page.wait_for_function("() => (window.sgraph.saved || []).length >= 1",
                               timeout=90_000, polling=20)
    before = [s["path"] for s in tab.sgraph("saved")]
    tab.page.reload()
    assert tab.wait_state("done", "failed", timeout=120_000) == "done", tab.sgraph("error")
    tab.page.wait_for_timeout(500)  # the last download's event
    after = [s["path"] for s in tab.sgraph("saved")]
    assert before and not set(before) & set(after), (before, after)
    assert sorted(before + after) == sorted(files)
    got = {}
    for download in downloads:
        target = tmp_path / "downloads" / download.suggested_filename
        download.save_as(target)
        got[download.suggested_filename] = target.read_bytes()
    assert len(downloads) == len(files)  # each file once: none saved twice
    assert got == {rel.replace("/", "_"): data for rel, data in files.items()}
    summary = tab.sgraph("summary")
    kept = sum(len(files[p]) for p in before)
    # the stream started at the chunk holding the first byte of the first unsaved file
    chunk = DEFAULT_RECORD_SIZE - OVERHEAD  # the CLI sender's default
    assert kept - chunk < summary["resumedBytes"] <= kept, (summary, kept)
    assert "kept from before a reload" in tab.page.inner_text("#status")
    code, events, err = finish(sender, timeout=90)
    assert code == 0, err[-3000:]
    sent = events[-1]
    assert sent["reconnects"] >= 1 and sent["sha256_verified"], sent
    # re-sent: what was in flight at the reload, never the files the page had saved
    assert sent["resent_bytes"] < total - kept, (sent, kept)
    assert_fragment_stayed(tab, link["code"], stack)


# the directory picker is a dialog headless chromium cannot show: this stands in for the
# person's choice with the origin-private file system's root, a real directory handle
# (the page's folder-writing code is then the one that runs in a real browser)
_PICK_OPFS = """
window.showDirectoryPicker = async () => {
  const root = await navigator.storage.getDirectory();
  return root.getDirectoryHandle("picked", { create: true });
};
"""

_READ_PICKED = """async () => {
  const out = {};
  const walk = async (dir, prefix) => {
    for await (const [name, handle] of dir.entries()) {
      const path = prefix + name;
      if (handle.kind === "directory") { out[path + "/"] = null; await walk(handle, path + "/"); }
      else out[path] = Array.from(new Uint8Array(await (await handle.getFile()).arrayBuffer()));
    }
  };
  await walk(await (await navigator.storage.getDirectory()).getDirectoryHandle("picked"), "");
  return out;
}"""


def test_cli_sends_a_folder_into_a_folder_the_page_picks(new_tab, stack: Stack,
                                                          tmp_path: Path) -> None:
    files = small_tree(tmp_path / "src")
    (tmp_path / "src" / "album" / "empty folder").mkdir()
    proc, link = start_cli_sender(stack, tmp_path / "src" / "album", stack.info.web_url)
    tab = new_tab()
    tab.page.add_init_script(_PICK_OPFS)
    tab.page.goto(link["link"])
    assert tab.wait_state("choose", "failed", timeout=120_000) == "choose", tab.sgraph("error")
    tab.page.click("#pick-save")
    assert tab.wait_state("done", "failed", timeout=120_000) == "done", tab.sgraph("error")
    got = tab.page.evaluate(_READ_PICKED)
    want: dict[str, list[int] | None] = {
        rel: list(data) for rel, data in files.items()}
    for folder in ("album/", "album/sub/", "album/sub/deeper/", "album/empty folder/"):
        want[folder] = None
    assert got == want
    code, _, err = finish(proc)
    assert code == 0, err[-3000:]
