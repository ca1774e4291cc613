"""API Gateway WebSocket event shapes, as the real service sends them to Lambda.

Every field API Gateway sends is present (Powertools' parser models for
WebSocket events validate these; see tests/integration).
"""

from __future__ import annotations

import base64
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


def new_id() -> str:
    """An id in API Gateway's style: 16 characters of url-safe base64 ending in `=`."""
    return base64.urlsafe_b64encode(os.urandom(11)).decode()


def request_time(epoch_ms: int) -> str:
    """API Gateway's `requestTime` format: `09/Feb/2024:18:11:43 +0000`."""
    return time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(epoch_ms / 1000))


@dataclass(frozen=True, slots=True)
class Api:
    """Where the events say they came from."""

    domain_name: str
    """`requestContext.domainName`."""
    stage: str
    """`requestContext.stage`."""
    api_id: str = "devstack"
    """`requestContext.apiId`."""


@dataclass(frozen=True, slots=True)
class Peer:
    """The client side of one WebSocket connection."""

    connection_id: str
    """API Gateway connection id."""
    connected_at_ms: int
    """Epoch milliseconds of the connect."""
    source_ip: str
    """Client address."""
    user_agent: str | None
    """Client's User-Agent header, if it sent one."""


def _context(
    api: Api, peer: Peer, route_key: str, event_type: str, now_ms: int, **extra: Any
) -> dict[str, Any]:
    request_id = new_id()
    identity: dict[str, Any] = {"sourceIp": peer.source_ip}
    if peer.user_agent is not None:
        identity["userAgent"] = peer.user_agent
    return {
        "routeKey": route_key,
        **extra,
        "eventType": event_type,
        "extendedRequestId": request_id,
        "requestTime": request_time(now_ms),
        "messageDirection": "IN",
        "stage": api.stage,
        "connectedAt": peer.connected_at_ms,
        "requestTimeEpoch": now_ms,
        "identity": identity,
        "requestId": request_id,
        "domainName": api.domain_name,
        "connectionId": peer.connection_id,
        "apiId": api.api_id,
    }


def connect_event(
    api: Api,
    peer: Peer,
    headers: list[tuple[str, str]],
    query: Mapping[str, list[str]],
    now_ms: int | None = None,
) -> dict[str, Any]:
    """The `$connect` event: handshake headers and query string."""
    now_ms = now_ms if now_ms is not None else int(time.time() * 1000)
    hop_by_hop = {"connection", "upgrade"}
    single: dict[str, str] = {}
    multi: dict[str, list[str]] = {}
    extra = [
        ("X-Amzn-Trace-Id", f"Root=1-{now_ms // 1000:08x}-{os.urandom(12).hex()}"),
        ("X-Forwarded-For", peer.source_ip),
        ("X-Forwarded-Port", "443"),
        ("X-Forwarded-Proto", "https"),
    ]
    for name, value in [*headers, *extra]:
        if name.lower() in hop_by_hop:
            continue
        single[name] = value
        multi.setdefault(name, []).append(value)
    event: dict[str, Any] = {"headers": single, "multiValueHeaders": multi}
    if query:
        event["queryStringParameters"] = {k: v[-1] for k, v in query.items()}
        event["multiValueQueryStringParameters"] = {k: list(v) for k, v in query.items()}
    event["requestContext"] = _context(api, peer, "$connect", "CONNECT", now_ms)
    event["isBase64Encoded"] = False
    return event


def message_event(
    api: Api, peer: Peer, route_key: str, data: str | bytes, now_ms: int | None = None
) -> dict[str, Any]:
    """A `MESSAGE` event: text frames as they are, binary frames base64-encoded."""
    now_ms = now_ms if now_ms is not None else int(time.time() * 1000)
    if isinstance(data, bytes):
        body, is_b64 = base64.b64encode(data).decode(), True
    else:
        body, is_b64 = data, False
    return {
        "requestContext": _context(api, peer, route_key, "MESSAGE", now_ms, messageId=new_id()),
        "body": body,
        "isBase64Encoded": is_b64,
    }


def disconnect_event(
    api: Api, peer: Peer, status_code: int, reason: str, now_ms: int | None = None
) -> dict[str, Any]:
    """The `$disconnect` event (API Gateway sends a few fixed headers)."""
    now_ms = now_ms if now_ms is not None else int(time.time() * 1000)
    headers = {
        "Host": api.domain_name,
        "x-api-key": "",
        "X-Forwarded-For": "",
        "x-restapi": "",
    }
    return {
        "headers": headers,
        "multiValueHeaders": {k: [v] for k, v in headers.items()},
        "requestContext": _context(
            api,
            peer,
            "$disconnect",
            "DISCONNECT",
            now_ms,
            disconnectStatusCode=status_code,
            disconnectReason=reason,
        ),
        "isBase64Encoded": False,
    }
