"""transfer_core/discovery.py against real HTTP servers on 127.0.0.1."""

from __future__ import annotations

import json
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from threading import Thread

import pytest

from devstack.web import serve_web
from transfer_core.discovery import (
    PageConfigError,
    PageUnreachableError,
    config_url,
    discover,
    parse_config,
)

CODE = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8"
WS = "ws://127.0.0.1:45678/local"


def test_a_link_finds_its_stack_and_the_fragment_is_never_sent() -> None:
    with serve_web(WS) as web:
        found = discover(f"{web.url}?save=memory#{CODE}")
        assert found.server == WS and found.page == web.url
        assert web.requests == ["/config.json"]
        assert not any(CODE in r for r in web.requests)


def test_config_sits_beside_the_page() -> None:
    assert config_url("https://send.example/#x") == "https://send.example/config.json"
    assert config_url("https://h.example/app/index.html?x=1#c") == \
        "https://h.example/app/config.json"


@pytest.mark.parametrize("link", [
    "http://send.example.net/#" + CODE,      # plain HTTP off this machine
    "ftp://127.0.0.1/#" + CODE,
    "https:///#" + CODE,
])
def test_only_https_or_loopback_http_is_asked(link: str) -> None:
    with pytest.raises(PageConfigError):
        discover(link)  # refused before any request: nothing leaves this machine


@pytest.mark.parametrize("body, message", [
    (b"<html>", "not JSON"),
    (b'{"server": "https://x.example"}', "no wss://"),
    (b'{"server": "ws://relay.example.net/live"}', "plain ws://"),
    (b"[1, 2]", "no wss://"),
])
def test_a_config_must_name_a_secure_relay(body: bytes, message: str) -> None:
    with pytest.raises(PageConfigError, match=message):
        parse_config(body, "https://send.example/")


def test_the_config_may_name_a_canonical_page() -> None:
    doc = json.dumps({"server": "wss://a.example/live", "page": "https://send.example/"})
    found = parse_config(doc.encode(), "https://d123.cloudfront.net/")
    assert found.page == "https://send.example/"


class Scripted(BaseHTTPRequestHandler):
    status = 302
    body = b""

    def do_GET(self) -> None:  # noqa: N802
        self.send_response(self.status)
        if self.status == 302:
            self.send_header("Location", "http://evil.example/config.json")
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def scripted() -> Iterator[tuple[str, type[Scripted]]]:
    handler = type("Handler", (Scripted,), {})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/", handler
    server.shutdown()
    server.server_close()


def test_redirects_are_not_followed(scripted: tuple[str, type[Scripted]]) -> None:
    url, _ = scripted
    with pytest.raises(PageConfigError, match="redirects"):
        discover(url + "#" + CODE)


def test_an_oversized_config_is_refused(scripted: tuple[str, type[Scripted]]) -> None:
    url, handler = scripted
    handler.status = 200
    handler.body = b" " * (64 * 1024 + 10)
    with pytest.raises(PageConfigError, match="larger"):
        discover(url)


def test_an_unreachable_page_is_a_network_error() -> None:
    with ThreadingHTTPServer(("127.0.0.1", 0), Scripted) as server:
        port = server.server_address[1]
    with pytest.raises(PageUnreachableError, match="cannot reach"):
        discover(f"http://127.0.0.1:{port}/#{CODE}", timeout=5)
