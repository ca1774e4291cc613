"""A link is all a receiver needs: the CLI finds the stack from the link's page.

The local stack's page serves `config.json` as the deployed page does; these tests
run real CLI processes against it with no `--server` and no `SGRAPH_SEND_SERVER`.
"""

from __future__ import annotations

import os
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from threading import Thread

import pytest

from .peers import FAST, Peer

pytestmark = pytest.mark.e2e


@pytest.fixture(autouse=True)
def no_server_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SGRAPH_SEND_SERVER", raising=False)


async def test_receive_with_only_the_link(stack, tmp_path: Path) -> None:
    data = os.urandom(300_000)
    (tmp_path / "a.bin").write_bytes(data)
    # the sender is pointed at the page alone, and its link is on that page
    sender = await Peer.start("send", str(tmp_path / "a.bin"), "--server", stack.info.web_url,
                              *FAST, "--p2p-timeout", "30")
    link = await sender.next_event()
    assert link["link"] == f"{stack.info.web_url}#{link['code']}"
    receiver = await Peer.start("receive", link["link"], "-o", str(tmp_path / "out"), *FAST)
    received = await receiver.finish()
    sent = await sender.finish()
    assert received.code == 0, received.stderr[-2000:]
    assert sent.code == 0, sent.stderr[-2000:]
    assert (tmp_path / "out" / "a.bin").read_bytes() == data
    assert received.event("summary")["path"] == "p2p"


async def test_a_wss_server_without_a_page_gives_a_code_not_a_foreign_link(
    stack, tmp_path: Path
) -> None:
    (tmp_path / "b.bin").write_bytes(b"x" * 1000)
    sender = await Peer.start("send", str(tmp_path / "b.bin"), "--server", stack.url, *FAST,
                              "--p2p-timeout", "1", "--no-storage")
    link = await sender.next_event()
    assert link["link"] is None and len(link["code"]) == 43
    await sender.kill()


@pytest.fixture
def not_a_page(tmp_path: Path):
    """An HTTP server on 127.0.0.1 that serves files but no config.json."""
    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "index.html").write_text("<p>some other site</p>")

    class Quiet(SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, directory=str(tmp_path / "site"), **kwargs)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    thread = Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


async def test_a_link_whose_site_serves_no_config_fails_clearly(
    not_a_page: str, tmp_path: Path
) -> None:
    code = "A" * 42 + "A"
    receiver = await Peer.start("receive", f"{not_a_page}#{code}", "-o", str(tmp_path / "out"),
                                *FAST)
    run = await receiver.finish(timeout=60)
    assert run.code == 2, run.stderr[-2000:]
    error = run.event("error")
    assert error["error"] == "PageConfigError"
    assert f"{not_a_page}config.json answered HTTP 404" in error["message"]
    assert "Traceback" not in run.stderr
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


async def test_a_bare_code_with_the_page_in_the_environment(stack, tmp_path: Path,
                                                            monkeypatch) -> None:
    data = os.urandom(100_000)
    (tmp_path / "c.bin").write_bytes(data)
    sender = await Peer.start("send", str(tmp_path / "c.bin"), "--server", stack.url, *FAST,
                              "--p2p-timeout", "30")
    link = await sender.next_event()
    monkeypatch.setenv("SGRAPH_SEND_SERVER", stack.info.web_url)  # the page, not a wss URL
    receiver = await Peer.start("receive", link["code"], "-o", str(tmp_path / "out"), *FAST)
    received = await receiver.finish()
    sent = await sender.finish()
    assert received.code == 0, received.stderr[-2000:]
    assert sent.code == 0, sent.stderr[-2000:]
    assert (tmp_path / "out" / "c.bin").read_bytes() == data
