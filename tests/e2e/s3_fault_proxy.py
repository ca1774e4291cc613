"""An HTTP proxy in front of moto's S3 that fails, resets and truncates requests.

The local stack presigns against the proxy (`AWS_ENDPOINT_URL_S3` of its handlers),
so every presigned PUT and GET of the peers crosses it; the handlers' own S3 calls
(signed in a header, not a query) cross it too but are never faulted. Faults are
drawn from a seeded `random.Random`, so a run can be replayed from its seed. A
fake, on purpose: moto never fails, resets or cuts an answer short by itself.
"""

from __future__ import annotations

import http.client
import http.server
import random
import threading
from collections import Counter
from dataclasses import dataclass, field
from urllib.parse import urlsplit

FAULTS = ("503", "reset", "truncate")
"""503: answered without forwarding. reset: the connection closed before any answer
(for a PUT, after forwarding it: the part may well be stored, and is sent again).
truncate: the answer's headers promise the whole body, half of it comes, then a close."""


@dataclass
class FaultPlan:
    """Which presigned requests fail: each with probability `rate`, of a kind in `kinds`."""

    seed: int
    rate: float = 0.0
    kinds: tuple[str, ...] = FAULTS
    methods: frozenset[str] = frozenset({"GET", "PUT"})
    _rng: random.Random = field(init=False)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)

    def draw(self, method: str) -> str | None:
        if method not in self.methods or self._rng.random() >= self.rate:
            return None
        return self._rng.choice(self.kinds)


class S3FaultProxy:
    """A threaded HTTP/1.1 proxy on 127.0.0.1; set `upstream` once moto is up."""

    def __init__(self, plan: FaultPlan | None = None) -> None:
        self.plan = plan or FaultPlan(seed=0)
        self.upstream = ""
        self.injected: Counter[str] = Counter()
        self.presigned: Counter[str] = Counter()
        self._lock = threading.Lock()
        self.put_delay = 0.0
        """Seconds each presigned PUT is held before it is forwarded (a slow upload path);
        `release` lets every held PUT go at once."""
        self.release = threading.Event()
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def _any(self) -> None:
                proxy._handle(self)

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _any

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_port}"

    def __enter__(self) -> S3FaultProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _draw(self, handler: http.server.BaseHTTPRequestHandler) -> str | None:
        if "X-Amz-Signature=" not in handler.path:  # the handlers' own calls pass untouched
            return None
        with self._lock:
            self.presigned[handler.command] += 1
            fault = self.plan.draw(handler.command)
            if fault:
                self.injected[fault] += 1
                self.injected[f"{handler.command} {fault}"] += 1
            return fault

    def _handle(self, handler: http.server.BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length) if length else None
        fault = self._draw(handler)
        if self.put_delay and handler.command == "PUT" and "X-Amz-Signature=" in handler.path:
            self.release.wait(self.put_delay)
        if fault == "503":
            handler.send_response(503)
            handler.send_header("Content-Length", "0")
            handler.end_headers()
            return
        if fault == "reset" and handler.command != "PUT":
            handler.close_connection = True
            return
        target = urlsplit(self.upstream)
        assert target.hostname is not None, "set `upstream` once moto is up"
        conn = http.client.HTTPConnection(target.hostname, target.port, timeout=120)
        try:
            headers = {k: v for k, v in handler.headers.items() if k.lower() != "host"}
            headers["Host"] = target.netloc
            conn.request(handler.command, handler.path, body=body, headers=headers)
            answer = conn.getresponse()
            data = answer.read()
        finally:
            conn.close()
        if fault == "reset":  # the PUT reached S3; its answer never comes back
            handler.close_connection = True
            return
        handler.send_response(answer.status)
        for key, value in answer.getheaders():
            if key.lower() not in ("content-length", "transfer-encoding", "connection", "date",
                                   "server"):
                handler.send_header(key, value)
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        if handler.command == "HEAD":
            return
        if fault == "truncate" and len(data) > 1:
            handler.wfile.write(data[: len(data) // 2])
            handler.wfile.flush()
            handler.close_connection = True
            return
        handler.wfile.write(data)
