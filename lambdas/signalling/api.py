"""Entry adapters: API Gateway WebSocket events in, service calls, responses out.

Kept apart from the handler modules so they can be tested without Powertools,
and from `relay_api` so `$connect`/`$disconnect` never import the message parser.
"""

from __future__ import annotations

import json
import logging
from typing import Any, Protocol

from transfer_core.protocol.room import SUBPROTOCOL

from .errors import SignallingError
from .nameplates import Nameplates, connect_by_nameplate
from .service import SignallingService

logger = logging.getLogger(__name__)


class Telemetry(Protocol):
    """Where the handlers count what happened (Powertools Metrics in Lambda)."""

    def handled(self, name: str) -> None:
        """One request of this kind was handled (`Connects`, `Disconnects`, `Messages`)."""
        ...

    def relayed(self, count: int) -> None:
        """`count` messages were posted to peers."""
        ...

    def refused(self, reason: str) -> None:
        """A request was refused with error code `reason`."""
        ...


class NoTelemetry:
    """Telemetry that counts nothing (tests)."""

    def handled(self, name: str) -> None:
        pass

    def relayed(self, count: int) -> None:
        pass

    def refused(self, reason: str) -> None:
        pass


def _error_response(err: SignallingError) -> dict[str, Any]:
    return {
        "statusCode": err.http_status,
        "body": json.dumps({"type": "error", "code": err.code, "message": err.message}),
    }


def connect_event(
    service: SignallingService, event: dict[str, Any], telemetry: Telemetry,
    nameplates: Nameplates | None = None,
) -> dict[str, Any]:
    """`$connect`: admit or refuse; a non-200 makes API Gateway reject the upgrade."""
    telemetry.handled("Connects")
    rc = event["requestContext"]
    query = event.get("queryStringParameters") or {}
    try:
        if "nameplate" in query and nameplates is not None:  # a spoken code: nameplates.py
            conn, replaced = connect_by_nameplate(
                service, nameplates, rc["connectionId"], query,
                _header(event, "Sec-WebSocket-Protocol"),
                rc.get("identity", {}).get("sourceIp", ""))
        else:
            conn, replaced = service.connect(
                rc["connectionId"],
                _header(event, "Sec-WebSocket-Protocol"),
                query.get("role"),
                query.get("token"),
                rc.get("identity", {}).get("sourceIp", ""),
            )
    except SignallingError as err:
        telemetry.refused(err.code)
        logger.info("connect refused", extra={"code": err.code})
        return _error_response(err)
    logger.info(
        "connected",
        extra={"role": conn.role, "slot": conn.slot, "reclaimed": replaced is not None},
    )
    # The client offered the version and its room key; selecting the version
    # completes the handshake (a browser drops a 101 that selects none).
    return {"statusCode": 200, "headers": {"Sec-WebSocket-Protocol": SUBPROTOCOL}}


def _header(event: dict[str, Any], name: str) -> str | None:
    """A request header, case-insensitively; repeated headers joined with commas."""
    wanted = name.lower()
    multi = event.get("multiValueHeaders") or {}
    values = [v for k, vs in multi.items() if k.lower() == wanted for v in (vs or [])]
    if values:
        return ", ".join(values)
    single = event.get("headers") or {}
    return next((v for k, v in single.items() if k.lower() == wanted), None)


def disconnect_event(
    service: SignallingService, event: dict[str, Any], telemetry: Telemetry
) -> dict[str, Any]:
    """`$disconnect`: remove the connection and tell the rest of its room."""
    telemetry.handled("Disconnects")
    outcome = service.disconnect(event["requestContext"]["connectionId"])
    telemetry.relayed(outcome.delivered)
    return {"statusCode": 200}
