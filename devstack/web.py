"""A static file server for the browser client (`web/`) on 127.0.0.1.

Besides the files of `web/` it answers two generated paths:

- `/config.json`: `{"server": <the stack's WebSocket URL>, "page": <this page>}`, the
  same document `make deploy` writes next to the deployed page, so the page served
  by the local stack talks to that stack without a query parameter, and a CLI given
  a link to this page finds the stack from it (`transfer_core/discovery.py`);
- `/test-vectors.json`: `docs/test-vectors.json` itself (one source of truth; the
  page checks the protocol's vectors against it).

Every response carries `Cache-Control: no-store` and the production security headers
(`infra/headers.py`: the same CSP, with this stack's WebSocket and moto origins in
`connect-src`), so the browser tests run the page as CloudFront serves it.
The link secret lives in the URL fragment, which browsers never send, so this
server never sees it (the browser tests assert that from its request log).
"""

from __future__ import annotations

import json
import logging
import mimetypes
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

from infra.headers import security_headers

logger = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parent.parent
WEB_DIR = ROOT / "web"
VECTORS = ROOT / "docs" / "test-vectors.json"
_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".json": "application/json",
    ".png": "image/png",
    ".svg": "image/svg+xml",
}


class WebServer:
    """Serves `web/` (and the two generated paths) until `close()`."""

    def __init__(self, ws_url: str, host: str = "127.0.0.1", port: int = 0,
                 web_dir: Path = WEB_DIR, storage_origins: tuple[str, ...] = ()) -> None:
        self.ws_url = ws_url
        self.web_dir = web_dir.resolve()
        self.headers = security_headers(ws_url, storage_origins).as_http()
        """The security headers of every response (the production ones for this stack)."""
        self.requests: list[str] = []
        """Every request line's target (path and query) in arrival order, for tests."""
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
                server._get(self)

            def do_HEAD(self) -> None:  # noqa: N802
                server._get(self, head=True)

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002
                logger.debug("web: " + format, *args)

        self._httpd = ThreadingHTTPServer((host, port), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="web",
                                        daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        """Base URL of the page, ending in `/`."""
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}/"

    def _body(self, path: str) -> tuple[bytes, str] | None:
        if path == "/config.json":
            config = {"server": self.ws_url, "page": self.url}
            return json.dumps(config).encode(), _TYPES[".json"]
        if path == "/test-vectors.json":
            return VECTORS.read_bytes(), _TYPES[".json"]
        if path.endswith("/"):
            path += "index.html"
        target = (self.web_dir / path.lstrip("/")).resolve()
        if not target.is_relative_to(self.web_dir) or not target.is_file():
            return None
        kind = _TYPES.get(target.suffix) or mimetypes.guess_type(target.name)[0]
        return target.read_bytes(), kind or "application/octet-stream"

    def _get(self, handler: BaseHTTPRequestHandler, head: bool = False) -> None:
        self.requests.append(handler.path)
        found = self._body(urlsplit(handler.path).path)
        status = HTTPStatus.OK if found else HTTPStatus.NOT_FOUND
        body, kind = found or (b"not found\n", "text/plain; charset=utf-8")
        handler.send_response(status)
        handler.send_header("Content-Type", kind)
        handler.send_header("Content-Length", str(len(body)))
        handler.send_header("Cache-Control", "no-store")
        for name, value in self.headers.items():
            handler.send_header(name, value)
        handler.end_headers()
        if not head:
            handler.wfile.write(body)

    def close(self) -> None:
        """Stop serving (idempotent)."""
        if not self._thread.is_alive():
            return
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)


@contextmanager
def serve_web(ws_url: str, port: int = 0,
              storage_origins: tuple[str, ...] = ()) -> Iterator[WebServer]:
    """`with serve_web(ws_url) as web: web.url`."""
    web = WebServer(ws_url, port=port, storage_origins=storage_origins)
    try:
        yield web
    finally:
        web.close()
