"""Entry adapter of the relay route: parse the body, dispatch the action, report errors."""

from __future__ import annotations

import logging
from typing import Any

from .api import Telemetry
from .control_api import control_action
from .errors import InternalError, SignallingError
from .messages import (
    AllocateNameplate,
    AnyMessage,
    DownloadDone,
    DownloadUrls,
    Hello,
    Ping,
    Revoke,
    Signal,
    TransferLimits,
    UploadComplete,
    UploadParts,
    UploadStart,
    parse_message,
)
from .nameplates import Nameplates, allocate_action
from .service import Outcome, SignallingService

logger = logging.getLogger(__name__)


def dispatch(service: SignallingService, connection_id: str, message: AnyMessage) -> Outcome:
    """Call the service method of the message's action."""
    if isinstance(message, Signal):
        return service.signal(connection_id, message.payload, message.to, message.ref)
    if isinstance(message, Hello):
        return service.hello(connection_id, message.ref)
    if isinstance(message, Ping):
        return service.ping(connection_id, message.ref)
    if isinstance(message, UploadStart):
        return service.upload_start(
            connection_id, message.object, message.first, message.parts, message.ref,
            size=message.size, part_size=message.partSize,
        )
    if isinstance(message, UploadParts):
        return service.upload_parts(
            connection_id, message.first, message.uploadId, list(message.parts), message.ref
        )
    if isinstance(message, UploadComplete):
        return service.upload_complete(
            connection_id, message.first, message.uploadId, message.parts, message.ref
        )
    if isinstance(message, DownloadUrls):
        return service.download_urls(connection_id, message.ref)
    if isinstance(message, TransferLimits | DownloadDone | Revoke):  # control_api.py
        return control_action(service, connection_id, message)
    return service.ice_servers(connection_id, message.ref)


def relay_event(
    service: SignallingService, event: dict[str, Any], telemetry: Telemetry,
    nameplates: Nameplates | None = None,
) -> dict[str, Any]:
    """Handle one client message; every failure becomes an `error` message to the caller."""
    telemetry.handled("Messages")
    connection_id = event["requestContext"]["connectionId"]
    ref = None
    try:
        try:
            message: AnyMessage | None = parse_message(
                event.get("body"), bool(event.get("isBase64Encoded"))
            )
            bad: SignallingError | None = None
        except SignallingError as err:
            message, bad = None, err
        ref = message.ref if message is not None else (bad.ref if bad is not None else None)
        # Every frame counts toward the rate limit, bad JSON, unknown actions and
        # oversized payloads included, and a replaced connection is refused whatever
        # it sends: admission comes before the parse error is reported.
        service.admit_frame(connection_id)
        if bad is not None:
            raise bad
        assert message is not None
        if isinstance(message, AllocateNameplate):
            if nameplates is None:
                raise InternalError("This relay does not hand out spoken codes.")
            source_ip = event["requestContext"].get("identity", {}).get("sourceIp", "")
            allocate_action(service, nameplates, connection_id, source_ip, ref)
            outcome = Outcome()
        else:
            outcome = dispatch(service, connection_id, message)
        telemetry.relayed(outcome.delivered)
    except SignallingError as err:
        telemetry.refused(err.code)
        logger.info("message refused", extra={"code": err.code})
        _report(service, connection_id, err, ref if ref is not None else err.ref)
    except Exception:
        # Logged with its traceback for us; the client only gets a stable code.
        logger.exception("relay failed")
        telemetry.refused(InternalError.code)
        _report(service, connection_id, InternalError(), ref)
    return {"statusCode": 200}


def _report(
    service: SignallingService, connection_id: str, err: SignallingError, ref: str | None
) -> None:
    try:
        service.report(connection_id, err, ref)
    except Exception:
        logger.exception("could not report an error to the caller")
