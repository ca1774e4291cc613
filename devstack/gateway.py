"""A local stand-in for API Gateway's WebSocket API and its `@connections` API.

- WebSocket side: `$connect` runs before the upgrade and a non-200 rejects it;
  each message is routed by `$request.body.action` (a known route key, else
  `$default`); closing runs `$disconnect`. Messages over 128 KB or frames over
  32 KB close the connection (1009), as does the idle timeout (1001).
- HTTP side: `POST/GET/DELETE /{stage}/@connections/{id}`, with API Gateway's
  error shapes (410 `GoneException`), so boto3's `apigatewaymanagementapi`
  client works against it with only an `endpoint_url`. As on AWS, a connection
  whose `$connect` has run but whose upgrade has not completed is not known yet:
  posts to it (and `GetConnection`) get 410; `upgrade_delay` stretches that
  moment so tests can reproduce it.
- The `Sec-WebSocket-Protocol` header the `$connect` handler returns is the
  subprotocol the 101 selects, as API Gateway does.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal
from urllib.parse import parse_qs, unquote, urlsplit

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from transfer_core.timeouts import within

from . import events

logger = logging.getLogger(__name__)

MAX_MESSAGE_BYTES = 128 * 1024
MAX_FRAME_BYTES = 32 * 1024
IDLE_TIMEOUT_SECONDS = 600.0
INTERNAL_ERROR = "Internal server error"

Invoke = Callable[[str, dict[str, Any]], Awaitable[dict[str, Any]]]


@dataclass(frozen=True, slots=True)
class Relayed:
    """One frame that crossed the gateway."""

    at: float
    """Epoch seconds."""
    direction: Literal["in", "out"]
    """`in`: client to gateway; `out`: gateway to client (an `@connections` post)."""
    connection_id: str
    """The client's connection id."""
    data: bytes
    """The frame's bytes exactly (text frames UTF-8 encoded)."""

    def to_json(self) -> str:
        """One JSON line (data as latin-1-safe base64) for recording files."""
        import base64

        return json.dumps(
            {
                "at": self.at,
                "direction": self.direction,
                "connection_id": self.connection_id,
                "data": base64.b64encode(self.data).decode(),
            }
        )


@dataclass
class _Live:
    ws: ServerConnection
    peer: events.Peer
    last_active_ms: int
    forgotten: bool = False


@dataclass
class Gateway:
    """The emulated WebSocket API; `invoke(kind, event)` runs a handler."""

    invoke: Invoke
    routes: frozenset[str]
    stage: str = "local"
    idle_timeout: float = IDLE_TIMEOUT_SECONDS
    on_relay: Callable[[Relayed], None] | None = None
    host: str = "127.0.0.1"
    upgrade_delay: float = 0.0
    """Seconds between a successful `$connect` and the 101 (tests: a slow upgrade)."""
    connections: dict[str, _Live] = field(default_factory=dict)
    _ws_server: Server | None = None
    _http_server: asyncio.Server | None = None
    _api: events.Api | None = None
    _tasks: set[asyncio.Task[Any]] = field(default_factory=set)

    # -- lifecycle -------------------------------------------------------

    async def start(self, ws_port: int = 0, http_port: int = 0) -> None:
        """Listen on 127.0.0.1 (WebSocket and management API)."""
        self._http_server = await asyncio.start_server(self._serve_http, self.host, http_port)
        self._ws_server = await serve(
            self._serve_ws,
            self.host,
            ws_port,
            process_request=self._process_request,
            select_subprotocol=_selected_subprotocol,
            max_size=(MAX_MESSAGE_BYTES, MAX_FRAME_BYTES),
            ping_interval=None,
            compression=None,
            server_header=None,
        )
        self._api = events.Api(domain_name=f"{self.host}:{self.ws_port}", stage=self.stage)

    async def close(self) -> None:
        """Close every connection (running `$disconnect` for each), then stop listening."""
        if self._ws_server is not None:
            self._ws_server.close(close_connections=True)
            await self._ws_server.wait_closed()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._http_server is not None:
            self._http_server.close()
            await self._http_server.wait_closed()

    @property
    def ws_port(self) -> int:
        assert self._ws_server is not None
        return int(next(iter(self._ws_server.sockets)).getsockname()[1])

    @property
    def http_port(self) -> int:
        assert self._http_server is not None
        return int(self._http_server.sockets[0].getsockname()[1])

    @property
    def ws_url(self) -> str:
        """The URL clients open (add `?role=…&token=…`; the room key: a subprotocol)."""
        return f"ws://{self.host}:{self.ws_port}/{self.stage}"

    @property
    def management_url(self) -> str:
        """The `@connections` endpoint (`MANAGEMENT_ENDPOINT_URL`)."""
        return f"http://{self.host}:{self.http_port}/{self.stage}"

    def forget(self, connection_id: str) -> bool:
        """Drop a connection without `$disconnect`, as when API Gateway loses a client.

        Later posts to it get 410 GoneException (tests use this).
        """
        live = self.connections.pop(connection_id, None)
        if live is None:
            return False
        live.forgotten = True
        transport = live.ws.transport
        if transport is not None:
            transport.abort()
        return True

    # -- WebSocket side --------------------------------------------------

    def _record(self, direction: Literal["in", "out"], connection_id: str, data: bytes) -> None:
        if self.on_relay is not None:
            self.on_relay(Relayed(time.time(), direction, connection_id, data))

    async def _process_request(
        self, connection: ServerConnection, request: Request
    ) -> Response | None:
        assert self._api is not None
        url = urlsplit(request.path)
        if url.path.rstrip("/") not in ("", f"/{self.stage}"):
            return connection.respond(404, "Not Found\n")
        now_ms = int(time.time() * 1000)
        remote = connection.remote_address
        peer = events.Peer(
            connection_id=events.new_id(),
            connected_at_ms=now_ms,
            source_ip=str(remote[0]) if remote else "127.0.0.1",
            user_agent=request.headers.get("User-Agent"),
        )
        event = events.connect_event(
            self._api,
            peer,
            list(request.headers.raw_items()),
            parse_qs(url.query, keep_blank_values=True),
            now_ms,
        )
        result = await self.invoke("connect", event)
        status = int(result.get("statusCode", 500))
        if status != 200:
            # API Gateway rejects the upgrade with the handler's status code.
            return connection.respond(status, str(result.get("body") or "Forbidden"))
        connection.devstack_peer = peer  # type: ignore[attr-defined]
        headers = {k.lower(): v for k, v in (result.get("headers") or {}).items()}
        connection.devstack_subprotocol = headers.get(  # type: ignore[attr-defined]
            "sec-websocket-protocol"
        )
        if self.upgrade_delay:
            await asyncio.sleep(self.upgrade_delay)
        return None

    async def _serve_ws(self, ws: ServerConnection) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        peer: events.Peer = ws.devstack_peer  # type: ignore[attr-defined]
        live = _Live(ws, peer, peer.connected_at_ms)
        self.connections[peer.connection_id] = live
        try:
            await self._read_loop(live)
        finally:
            self.connections.pop(peer.connection_id, None)
            if not live.forgotten:
                code, reason = _disconnect_reason(ws)
                assert self._api is not None
                await self.invoke(
                    "disconnect", events.disconnect_event(self._api, peer, code, reason)
                )
            self._tasks.discard(task)

    async def _read_loop(self, live: _Live) -> None:
        assert self._api is not None
        ws = live.ws
        while True:
            try:
                data = await within(ws.recv(), self.idle_timeout)
            except TimeoutError:
                await ws.close(1001, "Going away")
                return
            except ConnectionClosed:
                return
            live.last_active_ms = int(time.time() * 1000)
            raw = data.encode() if isinstance(data, str) else data
            self._record("in", live.peer.connection_id, raw)
            event = events.message_event(self._api, live.peer, self._route(data), data)
            # each message is its own invocation, started as it arrives, as API Gateway
            # does: a message does not wait for the Lambda of the one before it (#14), so
            # one connection's messages may be handled in either order (signalling.md §3)
            task = asyncio.create_task(self._handle(live, event))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _handle(self, live: _Live, event: dict[str, Any]) -> None:
        """Invoke the relay for one message; tell the client if the integration failed."""
        try:
            result = await self.invoke("relay", event)
        except RuntimeError:  # the workers are stopping (the stack is closing)
            logger.warning("a message of %s found no Lambda worker", live.peer.connection_id)
            return
        if int(result.get("statusCode", 200)) >= 500 and "devstackError" in result:
            # What API Gateway tells a client when the integration fails.
            rc = event["requestContext"]
            with contextlib.suppress(ConnectionClosed):
                await self._post(
                    live.peer.connection_id,
                    json.dumps(
                        {
                            "message": INTERNAL_ERROR,
                            "connectionId": rc["connectionId"],
                            "requestId": rc["requestId"],
                        }
                    ).encode(),
                )

    def _route(self, data: str | bytes) -> str:
        """Route selection `$request.body.action`, falling back to `$default`."""
        if isinstance(data, bytes):
            return "$default"
        try:
            body = json.loads(data)
        except (ValueError, RecursionError):
            # Not JSON, or nested too deeply to parse: the relay answers bad-json.
            return "$default"
        action = body.get("action") if isinstance(body, dict) else None
        return action if isinstance(action, str) and action in self.routes else "$default"

    # -- management API --------------------------------------------------

    async def _post(self, connection_id: str, data: bytes) -> bool:
        live = self.connections.get(connection_id)
        if live is None:
            return False
        try:
            text = data.decode()
        except UnicodeDecodeError:
            await live.ws.send(data)
        else:
            await live.ws.send(text)
        self._record("out", connection_id, data)
        return True

    async def _management(
        self, method: str, target: str, body: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        prefix = f"/{self.stage}/@connections/"
        path = urlsplit(target).path
        if not path.startswith(prefix):
            return _error(404, "NotFoundException", "Not Found")
        connection_id = unquote(path[len(prefix) :])
        live = self.connections.get(connection_id)
        if live is None:
            return _error(410, "GoneException", f"Connection {connection_id} is gone")
        if method == "POST":
            if len(body) > MAX_MESSAGE_BYTES:
                return _error(413, "PayloadTooLargeException", "Request entity too large")
            try:
                sent = await self._post(connection_id, body)
            except ConnectionClosed:
                sent = False
            if not sent:
                return _error(410, "GoneException", f"Connection {connection_id} is gone")
            return 200, {}, b""
        if method == "GET":
            info = {
                "connectedAt": _iso(live.peer.connected_at_ms),
                "identity": {"sourceIp": live.peer.source_ip},
                "lastActiveAt": _iso(live.last_active_ms),
            }
            if live.peer.user_agent is not None:
                info["identity"]["userAgent"] = live.peer.user_agent  # type: ignore[index]
            return 200, {"Content-Type": "application/json"}, json.dumps(info).encode()
        if method == "DELETE":
            await live.ws.close(1000, "")
            return 204, {}, b""
        return _error(405, "MethodNotAllowed", "Method not allowed")

    async def _serve_http(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                line = await reader.readline()
                if not line:
                    return
                method, target, _ = line.decode("latin-1").split(" ", 2)
                headers: dict[str, str] = {}
                while True:
                    header = await reader.readline()
                    if header in (b"\r\n", b"\n", b""):
                        break
                    name, _, value = header.decode("latin-1").partition(":")
                    headers[name.strip().lower()] = value.strip()
                length = int(headers.get("content-length", "0"))
                body = await reader.readexactly(length) if length else b""
                status, extra, payload = await self._management(method, target, body)
                head = [f"HTTP/1.1 {status} {_REASONS.get(status, 'Status')}"]
                head += [f"{k}: {v}" for k, v in extra.items()]
                head += [f"Content-Length: {len(payload)}", "x-amzn-RequestId: " + events.new_id()]
                writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + payload)
                await writer.drain()
                if headers.get("connection", "").lower() == "close":
                    return
        except (ConnectionError, asyncio.IncompleteReadError, ValueError):
            return
        finally:
            writer.close()


_REASONS = {
    200: "OK",
    204: "No Content",
    404: "Not Found",
    405: "Method Not Allowed",
    410: "Gone",
    413: "Payload Too Large",
}


def _error(status: int, kind: str, message: str) -> tuple[int, dict[str, str], bytes]:
    return (
        status,
        {"Content-Type": "application/json", "x-amzn-ErrorType": kind},
        json.dumps({"message": message}).encode(),
    )


def _iso(epoch_ms: int) -> str:
    return datetime.fromtimestamp(epoch_ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _selected_subprotocol(connection: ServerConnection, offered: Any) -> Any:
    """The subprotocol `$connect` selected, if the client offered it (else none)."""
    chosen = getattr(connection, "devstack_subprotocol", None)
    return chosen if chosen in offered else None


def _disconnect_reason(ws: ServerConnection) -> tuple[int, str]:
    code = ws.close_code
    if code is None or code == 1005:
        return 1005, "Client-side close frame status not set"
    if code == 1006:
        return 1006, "Going away"
    return code, ws.close_reason or ""
