"""Client-to-server messages (pydantic models) and their parser; imported by the relay only.

Every message is a JSON object with an `action`; each action takes exactly the
fields listed on its model (anything else is refused), plus an optional `ref`
string echoed in the direct reply so a client can match replies to requests.
Each action is a member of `ClientMessage` and a branch in `relay_api.dispatch`
(the storage actions of the S3 fallback included; docs/signalling.md §6).
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from .errors import (
    BadJson,
    InvalidField,
    MissingField,
    SignallingError,
    UnexpectedField,
    UnknownAction,
)

Ref = Annotated[str, Field(min_length=1, max_length=64)]
ConnectionId = Annotated[str, Field(min_length=1, max_length=128)]


class _Message(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    ref: Ref | None = None
    """Client-chosen tag echoed in the reply (and in an error about this message)."""


class Hello(_Message):
    """Say hello after connecting: the relay answers `welcome` and tells the others."""

    action: Literal["hello"]


class Signal(_Message):
    """Forward an opaque payload to the other peer(s) of the room."""

    action: Literal["signal"]
    payload: Any
    """Any JSON value; the relay neither reads nor logs it."""
    to: ConnectionId | None = None
    """One peer's connection id; absent means every other peer of the room."""


class Ping(_Message):
    """Ask for `pong`."""

    action: Literal["ping"]


class IceServers(_Message):
    """Ask for STUN/TURN servers with fresh TURN credentials."""

    action: Literal["ice-servers"]


RecordIndex = Annotated[int, Field(ge=0, le=2**32 - 1, strict=True)]
UploadId = Annotated[str, Field(min_length=1, max_length=1024)]
PartNumber = Annotated[int, Field(ge=1, le=10_000, strict=True)]
ObjectSize = Annotated[int, Field(ge=1, le=2**53, strict=True)]
MAX_PART_URLS = 16
"""Part URLs per `upload-parts` reply: keeps a reply far below API Gateway's 32 KB frame."""


class UploadStart(_Message):
    """The sender asks for a PUT URL (manifest, small records) or a multipart upload."""

    action: Literal["upload-start"]
    object: Literal["manifest", "records"]
    """Which object of the room's stored transfer."""
    first: RecordIndex | None = None
    """Records only: index of the object's first record."""
    parts: Annotated[int, Field(ge=0, le=10_000, strict=True)] | None = None
    """Records only: 0 for one single PUT, else the multipart upload's part count."""
    size: ObjectSize
    """Exact bytes of the object; the PUT URLs sign it, so S3 refuses any other size."""
    partSize: ObjectSize | None = None  # noqa: N815 (the wire name)
    """Multipart only: bytes of every part but the last."""


class UploadParts(_Message):
    """The sender asks for UploadPart URLs of its multipart upload."""

    action: Literal["upload-parts"]
    first: RecordIndex
    """Index of the records object's first record."""
    uploadId: UploadId  # noqa: N815 (the wire name)
    """From `upload-start`."""
    parts: Annotated[list[PartNumber], Field(min_length=1, max_length=MAX_PART_URLS)]
    """Distinct part numbers."""


class UploadComplete(_Message):
    """The sender says every part is uploaded; the relay completes the upload."""

    action: Literal["upload-complete"]
    first: RecordIndex
    """Index of the records object's first record."""
    uploadId: UploadId  # noqa: N815 (the wire name)
    """From `upload-start`."""
    parts: PartNumber
    """How many parts the upload has."""


class DownloadUrls(_Message):
    """Any member asks for GET URLs of the room's stored transfer."""

    action: Literal["download-urls"]


class TransferLimits(_Message):
    """The sender sets its stored transfer's limits (transfers.py; docs/signalling.md §8)."""

    action: Literal["transfer-limits"]
    downloads: Annotated[int, Field(ge=1, le=1000, strict=True)] | None = None
    """Completed downloads after which the stored transfer is deleted."""
    expiresIn: Annotated[int, Field(ge=1, le=2**31, strict=True)] | None = None  # noqa: N815
    """Seconds from now after which the stored transfer is deleted."""


class DownloadDone(_Message):
    """A receiver verified the whole transfer: one completed download."""

    action: Literal["download-done"]


class Revoke(_Message):
    """Any member deletes the room's stored transfer now."""

    action: Literal["revoke"]


class AllocateNameplate(_Message):
    """A room's sender asks for a nameplate, the number of a spoken code (nameplates.py)."""

    action: Literal["nameplate"]


AnyMessage = (
    Hello | Signal | Ping | IceServers | UploadStart | UploadParts | UploadComplete | DownloadUrls
    | AllocateNameplate | TransferLimits | DownloadDone | Revoke
)
ClientMessage = Annotated[AnyMessage, Field(discriminator="action")]
ACTIONS: dict[str, type[_Message]] = {
    "hello": Hello,
    "signal": Signal,
    "ping": Ping,
    "ice-servers": IceServers,
    "upload-start": UploadStart,
    "upload-parts": UploadParts,
    "upload-complete": UploadComplete,
    "download-urls": DownloadUrls,
    "nameplate": AllocateNameplate,
    "transfer-limits": TransferLimits,
    "download-done": DownloadDone,
    "revoke": Revoke,
}
_ADAPTER: TypeAdapter[AnyMessage] = TypeAdapter(ClientMessage)


MAX_DEPTH = 32
"""Deepest nesting of arrays and objects a message may have (a signal payload is shallow)."""


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _strict(data: Any) -> None:
    """Refuse what `json.loads` lets through but JSON (RFC 8259) does not mean: nesting
    deeper than `MAX_DEPTH`, and strings with lone surrogates (not UTF-8 encodable)."""
    stack: list[tuple[Any, int]] = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict):
            children: list[Any] = [*value.keys(), *value.values()]
        elif isinstance(value, list):
            children = value
        elif isinstance(value, str):
            try:
                value.encode()
            except UnicodeEncodeError:
                raise BadJson("The message has a lone surrogate; it is not UTF-8 text.") from None
            continue
        else:
            continue
        if depth > MAX_DEPTH:
            raise BadJson(f"The message is nested deeper than {MAX_DEPTH} levels.")
        stack.extend((child, depth + 1) for child in children)


def _field(loc: tuple[Any, ...]) -> str:
    # loc is (action, field, ...) for a tagged union; the field is what a client needs.
    parts = [str(p) for p in loc[1:]] or [str(p) for p in loc]
    return ".".join(parts)


def parse_message(body: str | None, is_base64: bool = False) -> AnyMessage:
    """Parse one message body; raise a `SignallingError` naming the first problem."""
    if is_base64 or body is None:
        raise BadJson("Binary frames are not supported; send a JSON text message.")
    try:
        data = json.loads(body, parse_constant=_reject_constant)
    except (ValueError, RecursionError):
        raise BadJson("The message is not valid JSON.") from None
    if not isinstance(data, dict):
        raise BadJson("The message must be a JSON object.")
    _strict(data)
    ref = data.get("ref") if isinstance(data.get("ref"), str) else None
    try:
        action = data.get("action")
        if action is None:
            raise MissingField("Every message needs an action field.")
        if not isinstance(action, str) or action not in ACTIONS:
            raise UnknownAction(
                "Unknown action; the relay knows " + ", ".join(sorted(ACTIONS)) + "."
            )
        try:
            return _ADAPTER.validate_python(data)
        except ValidationError as exc:
            first = exc.errors(include_input=False, include_url=False)[0]
            name = _field(tuple(first["loc"]))
            kind = first["type"]
            if kind == "missing":
                raise MissingField(f"{action} needs the field {name}.") from None
            if kind == "extra_forbidden":
                raise UnexpectedField(f"{action} does not take the field {name}.") from None
            raise InvalidField(f"The field {name} is invalid: {first['msg']}.") from None
        except RecursionError:
            raise InvalidField("The message is nested too deeply.") from None
    except SignallingError as err:
        err.ref = ref if ref is not None and len(ref) <= 64 else None
        raise
