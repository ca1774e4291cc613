"""Failures of a session as a whole, each with a sentence a person can act on."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import SGraphSendError

if TYPE_CHECKING:
    from .state import DoneRecord


class SessionError(SGraphSendError):
    """A transfer session could not finish."""


class EmptyRoomError(SessionError):
    """Nobody is sending on this link (the sender closed it, or never started)."""


class PeerGoneError(SessionError):
    """The other side left and did not come back in time."""


class PeerFailedError(SessionError):
    """The other side stopped the transfer and said why."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"the other side stopped: {message} ({code})")
        self.code = code


class AlreadyDoneError(SessionError):
    """The transfer of this link already finished on this machine: nothing to do."""

    def __init__(self, record: DoneRecord) -> None:
        if record.role == "receiver":
            text = f"this transfer is complete: {record.name} was saved as {record.destination}"
        else:
            text = f"this transfer is complete: the receiver verified and saved {record.name}"
        super().__init__(text)
        self.record = record
