"""Entry of the control actions `transfer-limits`, `download-done`, `revoke` (signalling.md §8).

Each checks the caller's membership and role through the service, calls
`TransferControl` with the caller's own room id (no field names a room), and
answers the caller only.
"""

from __future__ import annotations

from typing import Any

from .errors import StorageUnavailable
from .messages import DownloadDone, Revoke, TransferLimits
from .service import Outcome, SignallingService
from .transfers import TransferControl

ControlMessage = TransferLimits | DownloadDone | Revoke


def _control(service: SignallingService) -> TransferControl:
    if service.transfers is None:
        raise StorageUnavailable()
    return service.transfers


def control_action(service: SignallingService, connection_id: str,
                   message: ControlMessage) -> Outcome:
    """Run one control action for the caller and answer it."""
    fields: dict[str, Any]
    if isinstance(message, TransferLimits):
        # only the sender decides how long and how often its transfer may be fetched
        room = service.sender_room(connection_id)
        record = _control(service).set_limits(room, message.downloads, message.expiresIn)
        fields = {"downloads": record.downloads or None, "expiresAt": record.expires_at}
    elif isinstance(message, DownloadDone):
        # a receiver that read the stored file, or a sender with a download limit for a
        # receiver it served directly (protocol.md 2.2): a link holder either way, who
        # could revoke the transfer outright
        room, _ = service.member_of(connection_id)
        counted = _control(service).download_done(room)
        fields = {"counted": counted is not None,
                  "remaining": counted.remaining if counted is not None else None}
    else:
        # the link is the capability: whoever holds it may delete what it stores
        room, _ = service.member_of(connection_id)
        reason = _control(service).revoke(room)
        fields = {"closed": reason}
    service.reply_to(connection_id, message.action, fields, message.ref)
    return Outcome()
