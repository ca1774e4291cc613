"""The browser client in Debian's chromium against the local stack and the Python CLI.

Every transfer is checked byte for byte; every page's requests are checked for the
link's code (the fragment must never leave the page); screenshots of the main states
go to test-output/screenshots/.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from devstack.web import serve_web
from tests.e2e.tamper_proxy import TamperProxy
from tests.e2e.test_signalling_mitm import swap_fingerprint
from tests.e2e.test_transfer_control import transfer_item
from transfer_core.protocol.keys import derive_keys
from transfer_core.protocol.secret import TransferSecret
from transfer_core.webrtc.sctp_pmtu import probe_sizes

from .conftest import ROOT, Stack, Tab, peer_constant
from .storage_sender import store_transfer

pytestmark = [pytest.mark.browser, pytest.mark.e2e, pytest.mark.timeout(120)]

CLI = [sys.executable, "-m", "transfer_core.cli"]
FAST = ["--connect-timeout", "10", "--reconnect-grace", "10"]
P2P_WAIT = 60
"""Seconds a sending page waits for a CLI receiver before storing (`?p2p=`) in tests of
the direct path. The default 10 s counts from when the page starts waiting; in one
full-suite run (2026-12-01, both page -> CLI tests) the page stored the file before
the CLI's connection was up and the CLI fetched it from S3: correct, but not the path
under test. Their assertions now print both sides' logs if it happens again."""


def random_file(tmp_path: Path, name: str, size: int) -> Path:
    path = tmp_path / name
    path.write_bytes(os.urandom(size))
    return path


def open_send_page(tab: Tab, url: str) -> None:
    tab.page.goto(url)
    tab.page.wait_for_function("() => window.sgraph && window.sgraph.vectors")
    assert tab.sgraph("vectors.passed") == tab.sgraph("vectors.total")


def assert_fragment_stayed(tab: Tab, code: str, stack: Stack) -> None:
    """No request of the page, and no frame through the relay, carries the code."""
    assert tab.requests, "no request recorded"
    leaked = [url for url in tab.requests if code in url]
    assert not leaked, leaked
    assert code not in stack.relayed_text()
    assert not tab.errors, tab.errors


def start_cli_sender(
    stack: Stack, path: Path, link_base: str, *extra: str
) -> tuple[subprocess.Popen[str], dict]:
    """`sgraph-send send` (peer to peer only unless `extra` says otherwise)."""
    proc = subprocess.Popen(
        [*CLI, "send", str(path), "--server", stack.info.ws_url, "--json", *FAST,
         "--link-base", link_base, *(extra or ["--no-storage"])],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "SGRAPH_SEND_STATE_DIR": str(path.parent / "sender-state")},
    )
    assert proc.stdout is not None
    link = json.loads(proc.stdout.readline())
    assert link["event"] == "link", link
    return proc, link


def finish(proc: subprocess.Popen[str], timeout: float = 60) -> tuple[int, list[dict], str]:
    out, err = proc.communicate(timeout=timeout)
    return proc.returncode, [json.loads(line) for line in out.splitlines() if line], err


# --- the page itself ------------------------------------------------------------------


def test_protocol_vectors_pass_inside_the_page(new_tab, stack: Stack) -> None:
    tab = new_tab()
    open_send_page(tab, stack.info.web_url)
    results = tab.sgraph("vectors.results")
    assert len(results) >= 25
    assert all(r["ok"] for r in results), [r for r in results if not r["ok"]]
    names = {r["name"] for r in results}
    assert {"room id", "small: manifest record", "large: records", "signal envelope MAC",
            "max packet: writing"} <= names
    assert "25/" in tab.page.inner_text("#selftest") or "passed" in tab.page.inner_text("#selftest")
    tab.shot("send-1-idle")


# --- browser <-> Python CLI -------------------------------------------------------------


def test_browser_sends_to_cli(new_tab, stack: Stack, tmp_path: Path) -> None:
    source = random_file(tmp_path, "from-browser.bin", 3_000_000 + 123)
    tab = new_tab()
    open_send_page(tab, f"{stack.info.web_url}?p2p={P2P_WAIT}")
    tab.page.fill("#downloads", "1")  # a direct download counts too, told by the page
    tab.page.set_input_files("#file", str(source))
    tab.page.wait_for_function("() => window.sgraph.link")
    tab.wait_state("waiting")
    tab.shot("send-2-waiting-with-link")
    link = tab.sgraph("link")
    code = link.split("#", 1)[1]
    assert tab.page.input_value("#link") == link
    out = tmp_path / "out"
    try:
        received = subprocess.run(
            [*CLI, "receive", link, "-o", str(out), "--server", stack.info.ws_url, "--json",
             *FAST, "-v"],
            cwd=ROOT, capture_output=True, text=True, timeout=90,
        )
    except subprocess.TimeoutExpired as exc:  # seen under load: say what the CLI was doing
        stderr = exc.stderr or ""
        stderr = stderr.decode(errors="replace") if isinstance(stderr, bytes) else stderr
        pytest.fail(f"the CLI receiver did not finish in 90 s; page state"
                    f" {tab.sgraph('state()')!r}; its log:\n{stderr[-4000:]}")
    assert received.returncode == 0, received.stderr[-3000:]
    summary = json.loads(received.stdout.splitlines()[-1])
    assert summary["path"] == "p2p" and summary["sha256_verified"], (
        summary, tab.console[-10:], received.stderr[-3000:])
    assert (out / source.name).read_bytes() == source.read_bytes()
    assert tab.wait_state("done", "failed") == "done", tab.sgraph("error")
    assert tab.sgraph("summary.path") == "direct"
    # its flow-control window read the path's round trip from ICE (a loopback's: well
    # under 50 ms) and so stayed within a few hundred KB of where it starts (window.js)
    assert 0 < tab.sgraph("summary.pathRtt") < 0.05, tab.sgraph("summary")
    assert 2 * 2**20 <= tab.sgraph("summary.windowBytes") < 3 * 2**20, tab.sgraph("summary")
    # the CLI receiver's signed receipt, verified by the page (#15), came in its `done`; the
    # page set one download, so it reported this direct one itself (protocol.md 2.2)
    assert tab.sgraph("summary.receipts")[0]["receiver"] == summary["receipts"][0]["receiver"]
    item = transfer_item(stack, derive_keys(TransferSecret.parse(code)).room_id)
    assert item["done"] == {"N": "1"} and item["closed"] == {"S": "used-up"}
    tab.shot("send-4-done")
    assert_fragment_stayed(tab, code, stack)


def test_cli_sends_to_browser(new_tab, stack: Stack, tmp_path: Path) -> None:
    source = random_file(tmp_path, "from-cli.bin", 24_000_000 + 7)
    sender, link = start_cli_sender(stack, source, stack.info.web_url)
    tab = new_tab()
    with tab.page.expect_download(timeout=90_000) as download:
        tab.page.goto(link["link"])
        tab.wait_state("transferring")
        tab.page.wait_for_function("() => document.getElementById('progress').value > 0")
        tab.shot("receive-1-transferring")
    target = tmp_path / "downloaded.bin"
    download.value.save_as(target)
    assert download.value.suggested_filename == source.name
    assert target.read_bytes() == source.read_bytes()
    assert tab.wait_state("done") == "done"
    summary = tab.sgraph("summary")
    assert summary["path"] == "direct" and summary["sha256"]
    assert summary["sink"] == "opfs"  # streamed to disk, not held in memory
    tab.shot("receive-2-done")
    code, events, err = finish(sender)
    assert code == 0, err[-3000:]
    assert events[-1]["path"] == "p2p"
    # the page's SDP says it reads 2,048-byte packets (protocol 2.5): the CLI probes that
    # size besides 1,400, Chromium answers it over loopback, and the CLI sends at it
    page_reads = peer_constant("READS_WHOLE")
    assert probe_sizes(page_reads) == (2_048, 1_400)
    assert events[-1]["packet_size"] == page_reads, events[-1]
    assert_fragment_stayed(tab, link["code"], stack)


GATHER = """async () => {
  const pc = new RTCPeerConnection({ iceServers: [] });
  pc.createDataChannel("probe");
  const found = [];
  const done = new Promise((r) => (pc.onicecandidate =
    (e) => (e.candidate ? found.push(e.candidate.address) : r())));
  await pc.setLocalDescription();
  await done;
  pc.close();
  return found;
}"""


def test_chromium_gathers_127_0_0_1_and_nothing_else(new_tab, stack: Stack) -> None:
    """The browser tests' pairs are over 127.0.0.1 alone (netns.py): Chromium's own host
    candidates are on 127.0.0.1 (and ::1, which the page's local-only mode drops), never
    on an address of the machine's."""
    tab = new_tab()
    tab.page.goto(stack.info.web_url)
    addresses = set(tab.page.evaluate(GATHER))
    assert "127.0.0.1" in addresses and addresses <= {"127.0.0.1", "::1"}, addresses


def test_page_resumes_when_a_killed_cli_sender_comes_back(
    new_tab, stack: Stack, tmp_path: Path
) -> None:
    """The CLI sender is killed mid-transfer and restarted with --resume: the page,
    still open, reconnects, says what it holds, and gets only the rest."""
    source = random_file(tmp_path, "interrupted.bin", 24_000_000 + 11)
    # paced, so the kill lands mid-transfer however fast the machine is (about 6 s in all)
    sender, link = start_cli_sender(stack, source, stack.info.web_url,
                                    "--no-storage", "--limit-rate", "4M")
    tab = new_tab()
    with tab.page.expect_download(timeout=90_000) as download:
        tab.page.goto(link["link"])
        tab.page.wait_for_function(
            "() => { const p = document.getElementById('progress'); return p.value > p.max / 5 }",
            timeout=60_000)
        sender.kill()
        sender.communicate()
        resumed, _ = start_cli_sender(stack, source, stack.info.web_url,
                                      "--resume", link["link"], "--no-storage")
    target = tmp_path / "downloaded.bin"
    download.value.save_as(target)
    assert target.read_bytes() == source.read_bytes()
    summary = tab.sgraph("summary")
    assert summary["reconnects"] >= 1 and summary["path"] == "direct", summary
    code, events, err = finish(resumed)
    assert code == 0, err[-3000:]
    assert events[-1]["path"] == "p2p"


# --- browser <-> browser, relayed by a loopback coturn ----------------------------------


def test_browser_to_browser_through_turn(new_tab, turn_stack: Stack, tmp_path: Path) -> None:
    source = random_file(tmp_path, "page-to-page.bin", 4_000_000 + 1)
    sender = new_tab()
    open_send_page(sender, turn_stack.info.web_url + "?relay=1")
    sender.page.set_input_files("#file", str(source))
    sender.page.wait_for_function("() => window.sgraph.link")
    link = sender.sgraph("link")
    assert "relay=1" in link
    receiver = new_tab()
    with receiver.page.expect_download(timeout=90_000) as download:
        receiver.page.goto(link)
        sender.wait_state("transferring", "done")
        sender.page.wait_for_function(
            "() => document.getElementById('progress').value > 0"
            " || document.body.dataset.state === 'done'")
        sender.shot("send-3-transferring-relay")
    target = tmp_path / "downloaded.bin"
    download.value.save_as(target)
    assert target.read_bytes() == source.read_bytes()
    assert receiver.wait_state("done") == "done"
    assert sender.wait_state("done", "failed") == "done", sender.sgraph("error")
    assert receiver.sgraph("summary.path") == "relay"
    assert sender.sgraph("summary.path") == "relay"
    code = link.split("#", 1)[1]
    assert_fragment_stayed(receiver, code, turn_stack)
    assert_fragment_stayed(sender, code, turn_stack)


def test_page_renews_turn_credentials_near_expiry(new_tab, turn_stack: Stack) -> None:
    """Before a connection attempt the page asks the relay for fresh `ice-servers` when
    the TURN credentials it holds expire within 30 s, and only then (web/js/turn.js; the
    CLI's `_ice_for_attempt`): coturn refuses a new allocation with an expired one."""
    tab = new_tab()
    open_send_page(tab, turn_stack.info.web_url)
    got = tab.page.evaluate(
        """async (server) => {
          const P = await import("./js/protocol.js");
          const { Relay, newToken } = await import("./js/signalling.js");
          const { rtcConfig } = await import("./js/peer.js");
          const { RENEW_MARGIN_MS, iceForAttempt, turnExpiresAt } = await import("./js/turn.js");
          const keys = await P.deriveKeys(P.newSecret());
          const relay = await Relay.connect(server, keys.roomKey, "sender", newToken());
          try {
            const welcome = await relay.request("hello");
            const settings = { ...window.sgraph.settings, relayOnly: true };
            const config = rtcConfig(welcome.iceServers, settings);
            const asked = [];
            const request = relay.request.bind(relay);
            relay.request = (action, ...rest) => (asked.push(action), request(action, ...rest));
            const expires = turnExpiresAt(config.iceServers);
            const seconds = Math.floor(Date.now() / 1000);
            const withExpiry = (at) => ({ ...config, iceServers: config.iceServers.map(
              (s) => (s.username ? { ...s, username: `${at}:${s.username.split(":")[1]}` } : s)) });
            const result = { expires, now: Date.now(), margin: RENEW_MARGIN_MS };
            const kept = await iceForAttempt(relay, config, settings);
            result.fresh = { same: kept === config, asked: asked.splice(0) };
            const late = await iceForAttempt(relay, config, settings, expires - 10_000);
            result.late = { asked: asked.splice(0), expires: turnExpiresAt(late.iceServers),
                            policy: late.iceTransportPolicy };
            const stale = await iceForAttempt(relay, withExpiry(seconds - 5), settings);
            result.stale = { asked: asked.splice(0), expires: turnExpiresAt(stale.iceServers),
                             urls: stale.iceServers.flatMap((s) => s.urls) };
            const soon = await iceForAttempt(relay, withExpiry(seconds + 10), settings);
            result.soon = { asked: asked.splice(0), expires: turnExpiresAt(soon.iceServers) };
            return result;
          } finally {
            relay.close();
          }
        }""",
        turn_stack.info.ws_url,
    )
    assert got["expires"] is not None, "the welcome carried no TURN REST credentials"
    assert got["expires"] > got["now"] + got["margin"], got
    assert got["fresh"] == {"same": True, "asked": []}, got
    assert got["late"]["asked"] == ["ice-servers"] and got["late"]["policy"] == "relay", got
    assert got["late"]["expires"] >= got["expires"], got
    for case in ("stale", "soon"):
        assert got[case]["asked"] == ["ice-servers"], (case, got)
        assert got[case]["expires"] > got["now"] + got["margin"], (case, got)
    assert any(url.startswith("turn") for url in got["stale"]["urls"]), got
    assert any("renewed the TURN credentials" in line for line in tab.console), tab.console


# --- storage (S3) -------------------------------------------------------------------------


def test_browser_receives_from_storage(new_tab, stack: Stack, tmp_path: Path) -> None:
    source = random_file(tmp_path, "stored.bin", 2_500_000 + 3)
    code = store_transfer(stack.info.ws_url, source)  # stored, then the sender is gone
    tab = new_tab()
    with tab.page.expect_download(timeout=60_000) as download:
        tab.page.goto(f"{stack.info.web_url}#{code}")
    target = tmp_path / "downloaded.bin"
    download.value.save_as(target)
    assert target.read_bytes() == source.read_bytes()
    assert tab.wait_state("done") == "done"
    assert tab.sgraph("summary.path") == "storage"
    tab.shot("receive-3-done-from-storage")
    assert_fragment_stayed(tab, code, stack)


def test_browser_receives_what_the_cli_stored(new_tab, stack: Stack, tmp_path: Path) -> None:
    """The CLI finds no receiver within --p2p-timeout, stores the file (multipart) and
    exits; the page, opened later, fetches it from storage alone."""
    source = random_file(tmp_path, "left-for-later.bin", 10 * 1024 * 1024 + 5)
    sender, link = start_cli_sender(stack, source, stack.info.web_url, "--p2p-timeout", "1")
    code, events, err = finish(sender)
    assert code == 0 and events[-1]["path"] == "s3", err[-3000:]
    tab = new_tab()
    with tab.page.expect_download(timeout=60_000) as download:
        tab.page.goto(link["link"])
    target = tmp_path / "downloaded.bin"
    download.value.save_as(target)
    assert target.read_bytes() == source.read_bytes()
    assert tab.wait_state("done") == "done"
    assert tab.sgraph("summary.path") == "storage"
    assert_fragment_stayed(tab, link["code"], stack)


def test_tampered_storage_object_is_refused(new_tab, stack: Stack, tmp_path: Path) -> None:
    source = random_file(tmp_path, "tampered.bin", 300_000)

    def flip(records: bytes) -> bytes:
        spoiled = bytearray(records)
        spoiled[70_000] ^= 0x01  # inside record 1's ciphertext
        return bytes(spoiled)

    code = store_transfer(stack.info.ws_url, source, tamper=flip)
    tab = new_tab()
    tab.page.goto(f"{stack.info.web_url}#{code}")
    assert tab.wait_state("done", "failed") == "failed"
    error = tab.sgraph("error")
    assert error["kind"] == "verification" and error["code"] == "tampered", error
    assert "did not verify" in tab.page.inner_text("#error-title")
    tab.shot("receive-error-verification")


# --- errors a person can act on -----------------------------------------------------------


@pytest.mark.parametrize(("fragment", "code"), [
    ("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh", "wrong-length"),
    ("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh*", "bad-alphabet"),
])
def test_bad_link(new_tab, stack: Stack, fragment: str, code: str) -> None:
    tab = new_tab()
    tab.page.goto(f"{stack.info.web_url}#{fragment}")
    assert tab.wait_state("failed") == "failed"
    assert tab.sgraph("error")["code"] == code
    assert "not complete" in tab.page.inner_text("#error-title")
    if code == "wrong-length":
        tab.shot("receive-error-bad-link")


def test_expired_link(new_tab, stack: Stack) -> None:
    tab = new_tab()
    tab.page.goto(f"{stack.info.web_url}#{'A' * 42}A")  # a valid code nobody sends on
    assert tab.wait_state("failed") == "failed"
    error = tab.sgraph("error")
    assert error["kind"] == "expired", error
    assert "expired" in tab.page.inner_text("#error-message")
    tab.shot("receive-error-expired")


def test_memory_limit_is_stated(new_tab, stack: Stack, tmp_path: Path) -> None:
    source = random_file(tmp_path, "big-for-memory.bin", 2 * 1024 * 1024)
    sender, link = start_cli_sender(stack, source, f"{stack.info.web_url}?save=memory&memlimit=1")
    try:
        tab = new_tab()
        tab.page.goto(link["link"])
        assert tab.wait_state("failed") == "failed"
        error = tab.sgraph("error")
        assert error["kind"] == "too-large", error
        assert "1.0 MiB" in error["message"] and "command-line" in error["message"]
        tab.shot("receive-error-too-large")
    finally:
        sender.kill()
        sender.communicate()


# --- a tampering relay --------------------------------------------------------------------


@contextmanager
def tampering_relay(upstream: str, rewrite) -> Iterator[str]:
    """tests/e2e's TamperProxy on its own event loop in a thread; yields its URL."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    proxy = TamperProxy(upstream, rewrite)
    asyncio.run_coroutine_threadsafe(proxy.__aenter__(), loop).result(10)
    try:
        yield proxy.url
    finally:
        asyncio.run_coroutine_threadsafe(proxy.__aexit__(None, None, None), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
        loop.close()


def test_swapped_fingerprint_is_refused(new_tab, stack: Stack, tmp_path: Path) -> None:
    """A relay that swaps the DTLS fingerprint in the CLI's offer: the page refuses."""
    source = random_file(tmp_path, "intercepted.bin", 200_000)
    sender, link = start_cli_sender(stack, source, stack.info.web_url)
    try:
        # the page of a deployment whose relay tampers: served with that relay in its
        # config.json and CSP, as the production page is
        with tampering_relay(stack.info.ws_url, swap_fingerprint) as proxy_url, \
                serve_web(proxy_url, storage_origins=(stack.info.aws_endpoint_url,)) as web:
            tab = new_tab()
            tab.page.goto(f"{web.url}#{link['code']}")
            assert tab.wait_state("done", "failed") == "failed"
        error = tab.sgraph("error")
        assert error["kind"] == "refused" and error["code"] == "forged", error
        assert "possible interception" in tab.page.inner_text("#error-title")
        assert tab.sgraph("summary") is None
        tab.shot("receive-error-refused")
    finally:
        sender.kill()
        sender.communicate()
