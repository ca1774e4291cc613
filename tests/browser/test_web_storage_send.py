"""The sending page's S3 fallback (protocol.md §10, signalling.md §6): no receiver within
`?p2p=` seconds, so the page stores the sealed records through presigned `PUT`s and the
Python CLI, run later, fetches them from storage alone, byte for byte."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest
from playwright.sync_api import Request, Route

from transfer_core.storage.layout import PartPlan

from .conftest import ROOT, Stack
from .test_web_client import CLI, FAST, assert_fragment_stayed, open_send_page, random_file

pytestmark = [pytest.mark.browser, pytest.mark.e2e, pytest.mark.timeout(120)]

MiB = 1024 * 1024


def test_page_part_plan_is_the_python_part_plan(new_tab, stack: Stack) -> None:
    """The relay completes only parts 1…n and S3 wants ≥ 5 MiB parts: the page must cut
    records into parts exactly as transfer_core.storage.layout.PartPlan does."""
    tab = new_tab()
    open_send_page(tab, stack.info.web_url)
    cases = [(65536, 0, 1), (65536, 0, 128), (65536, 0, 129), (65536, 37, 300),
             (16384, 0, 513), (262144, 5, 1000), (16384, 0, 10_000 * 512 + 1)]
    got = tab.page.evaluate(
        """async (cases) => {
          const { PartPlan } = await import("./js/storage.js");
          const { Layout } = await import("./js/protocol.js");
          return cases.map(([r, first, count]) => {
            const layout = new Layout(count * (r - 48), r);
            const plan = new PartPlan(layout, first);
            const last = plan.partRecords(plan.parts);
            return [plan.parts, plan.recordsPerPart, last, plan.objectBytes];
          });
        }""",
        cases,
    )
    for (r, first, count), (parts, per, last, size) in zip(cases, got, strict=True):
        plan = PartPlan(r, r, count, first)
        tail = plan.part_records(plan.parts)
        assert (parts, per, last, size) == (
            plan.parts, plan.records_per_part, [tail.start, tail.stop], plan.object_bytes
        ), (r, first, count)


def test_page_stores_when_no_receiver_comes_and_cli_fetches_it(
    new_tab, stack: Stack, tmp_path: Path
) -> None:
    # a little over one 8 MiB part (64 KiB records): a multipart upload of two parts
    source = random_file(tmp_path, "stored-by-page.bin", 9 * MiB + 12_345)
    tab = new_tab()
    puts: list[tuple[str, str | None]] = []

    def on_request(request: Request) -> None:
        if request.method == "PUT":
            puts.append((request.url, request.headers.get("content-type")))

    tab.page.on("request", on_request)
    failed: list[str] = []

    def flaky_storage(route: Route) -> None:
        # the first PUT of part 2 meets a 503: the page retries it after a backoff
        if route.request.method == "PUT" and "partNumber=2" in route.request.url and not failed:
            failed.append(route.request.url)
            route.fulfill(status=503, body="SlowDown")
        else:
            route.continue_()

    tab.page.route(lambda url: "partNumber=" in url, flaky_storage)
    open_send_page(tab, f"{stack.info.web_url}?p2p=1")
    assert tab.sgraph("settings.p2pTimeoutMs") == 1000
    tab.page.set_input_files("#file", str(source))
    tab.page.wait_for_function("() => window.sgraph.link")
    code = tab.sgraph("link").split("#", 1)[1]
    assert tab.wait_state("stored", "failed", timeout=30_000) == "stored", tab.sgraph("error")
    tab.shot("send-5-stored")

    summary = tab.sgraph("summary")
    assert summary["path"] == "storage" and tab.sgraph("path") == "storage"
    assert summary["stored"]["first"] == 0 and summary["stored"]["parts"] == 2
    week = time.time() + 7 * 86400
    assert week - 3600 < summary["storedUntil"] < week + 3600, summary
    assert tab.page.inner_text("#path") == "storage (S3)"
    status = tab.page.inner_text("#status")
    assert "waiting for the receiver until" in status, status
    progress = tab.page.eval_on_selector("#progress", "p => [p.value, p.max]")
    assert progress == [source.stat().st_size] * 2, progress
    # the manifest, then two parts (part 2 twice: 503, retried); all application/octet-stream
    assert len(failed) == 1 and len(puts) == 4, puts
    assert all(ctype == "application/octet-stream" for _, ctype in puts), puts
    parts = [m.group(1) for url, _ in puts if (m := re.search(r"[?&]partNumber=(\d+)", url))]
    assert sorted(parts) == ["1", "2", "2"], puts
    assert "Stored stored-by-page.bin" in status and "it can fetch the file until" in (
        tab.page.inner_text("#link-advice"))
    assert_fragment_stayed(tab, code, stack)
    tab.page.close()  # the sender is gone; only storage holds the file

    out = tmp_path / "out"
    received = subprocess.run(
        [*CLI, "receive", code, "-o", str(out), "--server", stack.info.ws_url, "--json", *FAST],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )
    assert received.returncode == 0, received.stderr[-3000:]
    result = json.loads(received.stdout.splitlines()[-1])
    assert result["path"] == "s3" and result["sha256_verified"], result
    assert (out / source.name).read_bytes() == source.read_bytes()


def test_default_p2p_timeout_is_ten_seconds(new_tab, stack: Stack) -> None:
    tab = new_tab()
    open_send_page(tab, stack.info.web_url)
    assert tab.sgraph("settings.p2pTimeoutMs") == 10_000
    assert tab.sgraph("settings.storage") is True


def test_page_stores_the_rest_when_the_receiver_does_not_come_back(
    new_tab, stack: Stack, tmp_path: Path
) -> None:
    """Page → CLI; the CLI is stopped mid-way and stays away past `?grace=`: the page
    stores only what the receiver lacks (from its last `have`), and the CLI, run again,
    keeps what it has and fetches the rest from storage (path "p2p+s3")."""
    source = random_file(tmp_path, "half-stored.bin", 24 * MiB + 7)
    tab = new_tab()
    open_send_page(tab, f"{stack.info.web_url}?grace=2&p2p=30")
    tab.page.set_input_files("#file", str(source))
    tab.page.wait_for_function("() => window.sgraph.link")
    code = tab.sgraph("link").split("#", 1)[1]
    out = tmp_path / "out"
    # the receiver takes 4 MiB/s, and the page's flow-control window holds it to that pace:
    # the Ctrl-C below lands mid-transfer however fast the machine is
    cmd = [*CLI, "receive", code, "-o", str(out), "--server", stack.info.ws_url, "--json", *FAST,
           "--limit-rate", "4M"]
    events = tmp_path / "receiver-events.jsonl"  # what the CLI did, for a failure's message
    # A Ctrl-C from a terminal reaches a CLI whose SIGINT is at its default. Something
    # earlier in a full run leaves this worker's SIGINT ignored (SIG_IGN, seen in the
    # failure message below), a child inherits that, and the CLI then ran on to the end:
    # the child starts from a handler, which exec turns into the default.
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with events.open("w") as sink:
            receiver = subprocess.Popen(cmd, cwd=ROOT, stdout=sink, stderr=subprocess.PIPE)
    finally:
        signal.signal(signal.SIGINT, previous)
    shown = None
    try:
        tab.page.wait_for_function(
            "() => { const p = document.getElementById('progress');"
            " return p.value > 1048576 && p.value < p.max; }", timeout=30_000, polling=20)
        shown = tab.page.evaluate(
            "() => [document.getElementById('progress').value, document.body.dataset.state]")
    finally:
        # Ctrl-C: the CLI saves what it holds. (A SIGKILL can lose the last records it
        # acknowledged before saving them: they are then neither there nor stored.)
        receiver.send_signal(signal.SIGINT)
        receiver.wait(timeout=15)
    # stopped by the Ctrl-C, not done: a cancel lost in Python 3.11's wait_for once let it
    # run on to the end (transfer_core/timeouts.py)
    assert receiver.returncode == 130, (
        f"SIGINT sent with the page at {shown}; this process's SIGINT handler "
        f"{signal.getsignal(signal.SIGINT)}; the CLI's last events "
        f"{events.read_text().splitlines()[-4:]}; stderr "
        f"{receiver.stderr.read()[-1500:].decode(errors='replace') if receiver.stderr else ''}")
    # the break, the grace, then 20 MiB into moto: 30 s ran out once in a loaded full run
    assert tab.wait_state("stored", "failed", timeout=90_000) == "stored", tab.sgraph("error")
    summary = tab.sgraph("summary")
    assert summary["path"] == "mixed" and summary["stored"]["first"] > 0, summary
    assert tab.page.inner_text("#path") == "direct, then storage (S3)"
    tab.shot("send-6-stored-the-rest")
    tab.page.close()

    received = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert received.returncode == 0, received.stderr[-3000:]
    result = json.loads(received.stdout.splitlines()[-1])
    assert result["path"] == "p2p+s3" and result["sha256_verified"], result
    assert (out / source.name).read_bytes() == source.read_bytes()
