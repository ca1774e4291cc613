"""Browser client throughput: Chromium page <-> Python CLI, page <-> page, in-page loopback.

One run of this script measures, on the local stack (its own process) with Debian's
chromium driven by playwright:

- browser -> Python: the page sends, `sgraph-send receive` receives;
- Python -> browser: `sgraph-send send`, the page receives (to OPFS, the default, and
  to memory);
- browser -> browser: two pages, relay-only through a coturn on 127.0.0.1;
- Chromium's own in-page loopback: two RTCPeerConnections in one page, 64 KiB
  messages, the same back-pressure (1 MiB high / 256 KiB low), no protocol; the
  ceiling of Chromium's SCTP here.

Everything runs in a network namespace holding only `lo` (tests/browser/netns.py), so
every pair, Chromium's own included, is over 127.0.0.1. Root only.

Throughput is file bytes / seconds from the receiver's first `have` (sessions) or the
first message (loopback) to the last byte verified; best of the rounds.

    python bench/bench_browser.py            # 64 MiB per run, 2 rounds
    python bench/bench_browser.py --quick    # 16 MiB, 1 round
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from playwright.sync_api import Browser, Page, sync_playwright  # noqa: E402

from bench._report import summary, write_section  # noqa: E402
from devstack.process import DevStackProcess  # noqa: E402
from devstack.turn import Coturn  # noqa: E402
from tests.browser import netns  # noqa: E402
from tests.browser.conftest import CHROMIUM, CHROMIUM_FLAGS  # noqa: E402

MiB = 1 << 20
CLI = [sys.executable, "-m", "transfer_core.cli"]
FLAGS = [*CHROMIUM_FLAGS, *netns.LOOPBACK_FLAGS]

IN_PAGE_LOOPBACK = """async (total) => {
  const a = new RTCPeerConnection(), b = new RTCPeerConnection();
  a.onicecandidate = (e) => e.candidate && b.addIceCandidate(e.candidate);
  b.onicecandidate = (e) => e.candidate && a.addIceCandidate(e.candidate);
  const ch = a.createDataChannel("bench", { ordered: true });
  let t0 = 0;
  const got = new Promise((resolve) => (b.ondatachannel = (e) => {
    const c = e.channel; c.binaryType = "arraybuffer"; let n = 0;
    c.onmessage = (m) => { n += m.data.byteLength; if (n >= total) resolve(performance.now()); };
  }));
  await a.setLocalDescription(); await b.setRemoteDescription(a.localDescription);
  await b.setLocalDescription(); await a.setRemoteDescription(b.localDescription);
  await new Promise((r) => (ch.readyState === "open" ? r() : (ch.onopen = r)));
  ch.bufferedAmountLowThreshold = 256 * 1024;
  const msg = new Uint8Array(65536);
  t0 = performance.now();
  for (let sent = 0; sent < total; sent += msg.length) {
    if (ch.bufferedAmount >= 1024 * 1024) await new Promise((r) => (ch.onbufferedamountlow = r));
    ch.send(msg);
  }
  const t1 = await got;
  a.close(); b.close();
  return (total / 1e6) / ((t1 - t0) / 1000);
}"""


def page(browser: Browser) -> Page:
    context = browser.new_context(accept_downloads=True)
    context.grant_permissions(netns.LOOPBACK_PERMISSIONS)  # Chromium's `lo`: netns.py
    return context.new_page()


def wait_done(p: Page, timeout: float = 300_000) -> dict[str, Any]:
    p.wait_for_function("() => ['done', 'failed'].includes(document.body.dataset.state)",
                        timeout=timeout)
    error = p.evaluate("JSON.stringify(window.sgraph.error ?? null)")
    if error != "null":
        raise RuntimeError(f"the page failed: {error}")
    result: dict[str, Any] = json.loads(p.evaluate("JSON.stringify(window.sgraph.summary)"))
    return result


def open_sender(browser: Browser, url: str, source: Path) -> tuple[Page, str]:
    p = page(browser)
    p.goto(url)
    p.wait_for_function("() => window.sgraph && window.sgraph.vectors")
    p.set_input_files("#file", str(source))
    p.wait_for_function("() => window.sgraph.link")
    link: str = p.evaluate("window.sgraph.link")
    return p, link


def browser_to_python(browser: Browser, stack: Any, source: Path, out: Path) -> float:
    p, link = open_sender(browser, stack.web_url, source)
    done = subprocess.run([*CLI, "receive", link, "-o", str(out), "--force",
                           "--server", stack.ws_url, "--json"],
                          cwd=ROOT, capture_output=True, text=True, timeout=600)
    if done.returncode:
        raise RuntimeError(done.stderr[-2000:])
    mb_s = float(wait_done(p)["mbPerS"])
    p.context.close()
    return mb_s


def python_to_browser(browser: Browser, stack: Any, source: Path, save: str) -> float:
    proc = subprocess.Popen([*CLI, "send", str(source), "--server", stack.ws_url, "--json",
                             "--link-base", f"{stack.web_url}?save={save}"],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    link = json.loads(proc.stdout.readline())["link"]
    p = page(browser)
    p.goto(link)
    result = wait_done(p)
    proc.communicate(timeout=60)
    p.context.close()
    return float(result["mbPerS"])


def browser_to_browser(browser: Browser, stack: Any, source: Path) -> float:
    sender, link = open_sender(browser, stack.web_url + "?relay=1", source)
    receiver = page(browser)
    receiver.goto(link)
    result = wait_done(receiver)
    wait_done(sender)
    assert result["path"] == "relay", result
    sender.context.close()
    receiver.context.close()
    return float(result["mbPerS"])


def in_page_loopback(browser: Browser, stack: Any, total: int) -> float:
    p = page(browser)
    p.goto(stack.web_url)
    mb_s = float(p.evaluate(IN_PAGE_LOOPBACK, total))
    p.context.close()
    return mb_s


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="16 MiB, one round")
    parser.add_argument("--mib", type=int, help="MiB per run (default 64, --quick 16)")
    parser.add_argument("--rounds", type=int, help="rounds (default 2, --quick 1)")
    parser.add_argument("--no-write", action="store_true", help="do not touch docs/benchmarks.md")
    args = parser.parse_args(argv)
    total = (args.mib or (16 if args.quick else 64)) * MiB
    rounds = args.rounds or (1 if args.quick else 2)
    print(f"bench_browser: {total // MiB} MiB per run, {rounds} round(s), {os.cpu_count()} cores")

    netns.enter()  # before any process starts: they all inherit it
    work = Path(tempfile.mkdtemp(prefix="bench-browser-"))
    source = work / "payload.bin"
    source.write_bytes(os.urandom(total))
    best: dict[str, float] = {}
    with Coturn.start() as turn, DevStackProcess(*turn.devstack_args()) as stack, \
            sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        runs: list[tuple[str, Callable[[], float]]] = [
            ("in-page loopback (Chromium, no protocol)",
             lambda: in_page_loopback(browser, stack, total)),
            ("browser -> Python CLI", lambda: browser_to_python(browser, stack, source,
                                                                 work / "out")),
            ("Python CLI -> browser (OPFS)", lambda: python_to_browser(browser, stack, source,
                                                                        "opfs")),
            ("Python CLI -> browser (memory)", lambda: python_to_browser(browser, stack, source,
                                                                          "memory")),
            ("browser -> browser (TURN relay)", lambda: browser_to_browser(browser, stack,
                                                                            source)),
        ]
        for round_no in range(rounds):
            for name, run in runs:
                started = time.perf_counter()
                mb_s = run()
                print(f"round {round_no + 1}  {name:<42} {mb_s:6.1f} MB/s"
                      f"  ({time.perf_counter() - started:.1f} s wall)", flush=True)
                best[name] = max(best.get(name, 0.0), mb_s)
        browser.close()

    load = os.getloadavg()[0]
    loop = best["in-page loopback (Chromium, no protocol)"]
    rows = "\n".join(f"| {name} | {mb_s:.1f} | ×{mb_s / loop:.2f} |" for name, mb_s in best.items())
    write = not args.no_write
    if write:
        write_section("bench_browser", f"""## Browser client (`bench/bench_browser.py`)

Chromium headless (Debian) through playwright, local stack
on 127.0.0.1, {total // MiB} MiB random file, best of {rounds} round(s). Sessions count
from the receiver's first `have` to the last record verified (SHA-256 included);
everything runs in a network namespace holding only `lo`
(tests/browser/netns.py), so browser ↔ Python and the in-page loopback pair host to
host over 127.0.0.1, and page ↔ page relays through coturn on 127.0.0.1 (relay-only
policy). The in-page loopback is two
RTCPeerConnections in one page without any protocol (64 KiB messages, same
back-pressure): Chromium's own ceiling, measured in the same run. Load average
at the end of the run: {load:.1f} on {os.cpu_count()} cores (the figures fall with
it; compare each row with the loopback row of the same run).

| path | MB/s | vs in-page loopback |
| --- | ---: | ---: |
{rows}
""")
    summary("browser_to_python_mb_s", best["browser -> Python CLI"], None, True)
    summary("python_to_browser_mb_s", best["Python CLI -> browser (OPFS)"], None, True)
    summary("browser_in_page_loopback_mb_s", loop, None, True)
    summary("browser_to_browser_turn_mb_s", best["browser -> browser (TURN relay)"], None, True)
    # issue #14: each path beside Chromium's own in-page loopback of the same run
    summary("browser_to_python_vs_loopback", best["browser -> Python CLI"] / loop, 0.9, True)
    summary("python_to_browser_vs_loopback", best["Python CLI -> browser (OPFS)"] / loop, 0.9,
            True)
    summary("browser_to_browser_turn_vs_loopback", best["browser -> browser (TURN relay)"] / loop,
            0.7, True)


if __name__ == "__main__":
    main()
