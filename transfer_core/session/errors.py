"""Failures of a session as a whole, each with a sentence a person can act on."""

from __future__ import annotations

from ..errors import SGraphSendError


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
