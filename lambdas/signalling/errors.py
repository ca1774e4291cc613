"""Typed errors of the signalling domain, each with a stable wire code.

The code is what a client matches on; the message is a sentence for a person.
Neither ever carries a payload or a stack trace.
"""

from __future__ import annotations


class SignallingError(Exception):
    """Root of every error the relay reports to a client."""

    code: str = "internal"
    default_message: str = "The relay could not handle this message; try again."
    http_status: int = 500

    def __init__(self, message: str | None = None) -> None:
        self.message = message or self.default_message
        self.ref: str | None = None
        """The `ref` of the message that caused it, echoed back to the client."""
        super().__init__(self.message)


class BadRequest(SignallingError):
    """The connect query string is malformed (room id, role or token)."""

    code = "bad-request"
    default_message = "The room id, role or reconnect token is malformed."
    http_status = 400


class RoomFull(SignallingError):
    """Every slot for this role in the room is held by a live connection."""

    code = "room-full"
    default_message = "This room already has a peer in that role."
    http_status = 409


class RateLimited(SignallingError):
    """Too many connects from this client or messages on this connection."""

    code = "rate-limited"
    default_message = "Too many requests; wait a minute and try again."
    http_status = 429


class TooManyConnections(RateLimited):
    """The client's address already holds `MAX_CONNECTIONS_PER_ADDRESS` open connections.

    Same code and status as the connect rate limit (clients already turn a 429 into
    "too many connections from here"); only the message differs.
    """

    default_message = "Too many connections from your address are open; close one and retry."


class BadJson(SignallingError):
    """The message body is not a JSON object."""

    code = "bad-json"
    default_message = "The message is not a JSON object."
    http_status = 400


class UnknownAction(SignallingError):
    """`action` names no action the relay knows."""

    code = "unknown-action"
    default_message = "Unknown action; use hello, signal, ping or ice-servers."
    http_status = 400


class MissingField(SignallingError):
    """A required field is absent."""

    code = "missing-field"
    default_message = "A required field is missing."
    http_status = 400


class UnexpectedField(SignallingError):
    """A field the action does not take is present."""

    code = "unexpected-field"
    default_message = "The message has a field this action does not take."
    http_status = 400


class InvalidField(SignallingError):
    """A field has the wrong type or format."""

    code = "invalid-field"
    default_message = "A field has the wrong type or format."
    http_status = 400


class PayloadTooLarge(SignallingError):
    """The signal payload is larger than the relay forwards."""

    code = "payload-too-large"
    default_message = "The payload is too large."
    http_status = 413


class NotInRoom(SignallingError):
    """The caller holds no slot, or `to` names a connection outside its room."""

    code = "not-in-room"
    default_message = "That connection is not in your room."
    http_status = 403


class InternalError(SignallingError):
    """Something failed on the server side; details are logged, never sent."""

    code = "internal"
    default_message = "The relay could not handle this message; try again."
    http_status = 500


class NoPeer(SignallingError):
    """A signal was sent while no other peer is in the room."""

    code = "no-peer"
    default_message = "No other peer is in the room yet; wait for peer-joined."
    http_status = 409


class Forbidden(SignallingError):
    """The caller's role may not do this (a receiver asking to upload)."""

    code = "forbidden"
    default_message = "Only the room's sender may store a transfer."
    http_status = 403


class Expired(SignallingError):
    """Nothing is stored for the room: expired, removed, or never stored."""

    code = "expired"
    default_message = (
        "Nothing is stored for this link: the transfer has expired or was never stored."
    )
    http_status = 404


class NoUpload(SignallingError):
    """The multipart upload named does not exist for this room and record index."""

    code = "no-upload"
    default_message = "That upload does not exist (finished, aborted or not yours); start again."
    http_status = 404


class UploadIncomplete(SignallingError):
    """`upload-complete` while parts are missing."""

    code = "upload-incomplete"
    default_message = "Parts of the upload are missing; upload them and complete again."
    http_status = 409


class TooLarge(SignallingError):
    """An upload over the relay's limits (`MAX_TRANSFER_BYTES`, objects per room)."""

    code = "too-large"
    default_message = "This transfer is larger than this relay stores."
    http_status = 413


class StorageUnavailable(SignallingError):
    """The relay has no bucket configured."""

    code = "storage-unavailable"
    default_message = "This relay stores no transfers (no bucket configured)."
    http_status = 503


__all__ = [
    "BadJson",
    "BadRequest",
    "Expired",
    "Forbidden",
    "InternalError",
    "InvalidField",
    "MissingField",
    "NoUpload",
    "NoPeer",
    "NotInRoom",
    "PayloadTooLarge",
    "RateLimited",
    "RoomFull",
    "SignallingError",
    "StorageUnavailable",
    "TooLarge",
    "TooManyConnections",
    "UnexpectedField",
    "UnknownAction",
    "UploadIncomplete",
]
