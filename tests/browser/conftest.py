"""Real-browser tests: Debian's chromium through playwright, the local stack in its own
process, coturn on 127.0.0.1 for browser to browser, all in a network namespace holding
only `lo` (netns.py). A missing chromium or coturn fails
the tests (never skips them)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, sync_playwright
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from devstack.process import DevStackProcess
from devstack.stack import StackInfo
from devstack.turn import Coturn

from . import netns

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"


def peer_constant(name: str) -> int:
    """A number web/js/peer.js exports, `export const NAME = 123;` or `= 64 * 1024;`
    (tests and bench/bench_browser.py read the page's settings from its source)."""
    source = (ROOT / "web" / "js" / "peer.js").read_text()
    found = re.search(rf"^export const {name} = (\d+)( \* 1024)?;", source, re.M)
    if not found:
        raise RuntimeError(f"web/js/peer.js no longer exports {name} as a number")
    return int(found.group(1)) * (1024 if found.group(2) else 1)
CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-features=WebRtcHideLocalIpsWithMdns",
]
SCREENSHOTS = ROOT / "test-output" / "screenshots"


def launch_chromium(playwright: Any) -> Browser:
    """Chromium as the issue prescribes; fails loudly when it is not installed."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: run scripts/install-system-deps.sh (make install)")
    return playwright.chromium.launch(executable_path=CHROMIUM,
                                      args=[*CHROMIUM_FLAGS, *netns.LOOPBACK_FLAGS])


@pytest.fixture(scope="session")
def loopback_only() -> Iterator[None]:
    """Every browser test's process runs where `lo` is the only interface, so Chromium pairs
    over 127.0.0.1 alone (netns.py). Left at the session's end; the lab leaves it sooner."""
    netns.enter()
    yield
    netns.leave()


@dataclass
class Stack:
    """A local stack (own process) and the file recording every relayed frame."""

    info: StackInfo
    record: Path

    def relayed_text(self) -> str:
        import base64
        import json

        lines = self.record.read_text().splitlines() if self.record.exists() else []
        return "\n".join(base64.b64decode(json.loads(line)["data"]).decode("utf-8", "replace")
                         for line in lines)


@dataclass
class Tab:
    """A page with what it logged and every request it made (URLs, WebSocket URLs)."""

    page: Page
    errors: list[str] = field(default_factory=list)
    console: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    csp_violations: list[str] = field(default_factory=list)
    csp_probe: bool = False
    """Set by a test that provokes violations on purpose."""

    def shot(self, name: str) -> Path:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"{name}.png"
        self.page.screenshot(path=str(path), full_page=True)
        return path

    def wait_state(self, *states: str, timeout: float = 60_000) -> str:
        try:
            self.page.wait_for_function(
                "states => states.includes(document.body.dataset.state)", arg=list(states),
                timeout=timeout,
            )
        except PlaywrightTimeout as e:
            # what the page was doing when the wait ran out: a timeout alone says nothing
            seen = self.page.evaluate(
                "[document.body.dataset.state, document.getElementById('status')?.innerText]")
            raise AssertionError(
                f"page still {seen[0]!r} ({seen[1]!r}), not {states} after {timeout / 1000:.0f} s;"
                " its console, last 40 lines:\n" + "\n".join(self.console[-40:])) from e
        state: str = self.page.evaluate("document.body.dataset.state")
        return state

    def sgraph(self, expression: str) -> Any:
        return self.page.evaluate(f"JSON.parse(JSON.stringify(window.sgraph.{expression} ?? null))")


@pytest.fixture(scope="module")
def browser(loopback_only: None) -> Iterator[Browser]:
    # module scope, not session: sync_playwright keeps an event loop running in this
    # thread until it exits, and the asyncio tests of later modules need the thread free
    with sync_playwright() as playwright:
        chromium = launch_chromium(playwright)
        yield chromium
        chromium.close()


@pytest.fixture
def new_tab(browser: Browser) -> Iterator[Any]:
    contexts = []
    tabs: list[Tab] = []

    def make() -> Tab:
        context = browser.new_context(accept_downloads=True, viewport={"width": 900, "height": 640})
        context.grant_permissions(netns.LOOPBACK_PERMISSIONS)  # Chromium's `lo`: netns.py
        contexts.append(context)
        page = context.new_page()
        tab = Tab(page)
        tabs.append(tab)
        page.on("pageerror", lambda e: tab.errors.append(str(e)))
        page.on("console", lambda m: tab.console.append(f"{m.type}: {m.text}"))

        # every page runs under the production CSP (devstack/web.py sends infra/headers.py's
        # headers): a violation is a page change that would break in production
        def note_csp_violation(m: ConsoleMessage) -> None:
            if "Content Security Policy" in m.text:
                tab.csp_violations.append(m.text)

        page.on("console", note_csp_violation)
        page.on("request", lambda r: tab.requests.append(r.url))
        page.on("websocket", lambda ws: tab.requests.append(ws.url))
        return tab

    yield make
    for context in contexts:
        context.close()
    violations = [v for tab in tabs for v in tab.csp_violations if not tab.csp_probe]
    assert not violations, violations


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory, loopback_only: None) -> Iterator[Stack]:
    record = tmp_path_factory.mktemp("stack") / "relayed.jsonl"
    # two receiver slots: the page can be one of a CLI sender's receivers (#15)
    with DevStackProcess(record_to=record, env={"MAX_RECEIVERS": "2"}) as info:
        yield Stack(info, record)


@pytest.fixture(scope="session")
def turn_stack(tmp_path_factory: pytest.TempPathFactory,
               loopback_only: None) -> Iterator[Stack]:
    """A second local stack whose `ice-servers` hands out credentials for a loopback coturn."""
    record = tmp_path_factory.mktemp("turn-stack") / "relayed.jsonl"
    with Coturn.start() as turn, DevStackProcess(*turn.devstack_args(), record_to=record) as info:
        yield Stack(info, record)
