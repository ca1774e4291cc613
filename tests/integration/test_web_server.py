"""devstack/web.py: the local page server sends the production headers and config.json."""

from __future__ import annotations

import json
import urllib.request

from devstack.web import serve_web
from infra.headers import security_headers

WS = "ws://127.0.0.1:45678/local"
S3 = "http://127.0.0.1:45679"


def fetch(url: str) -> tuple[int, dict[str, str], bytes]:
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.status, dict(response.headers), response.read()


def test_every_response_carries_the_production_headers() -> None:
    expected = security_headers(WS, [S3]).as_http()
    with serve_web(WS, storage_origins=(S3,)) as web:
        for path in ("", "js/app.js", "config.json"):
            status, headers, _ = fetch(web.url + path)
            assert status == 200
            for name, value in expected.items():
                assert headers[name] == value, (path, name)


def test_config_names_the_relay_and_the_page_itself() -> None:
    with serve_web(WS) as web:
        _, headers, body = fetch(web.url + "config.json")
        assert headers["Content-Type"] == "application/json"
        assert json.loads(body) == {"server": WS, "page": web.url}
