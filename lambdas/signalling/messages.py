"""Client-to-server messages (frozen dataclasses) and their parser; imported by the relay only.

Every message is a JSON object with an `action`; each action takes exactly the
fields listed on its class (anything else is refused), plus an optional `ref`
string echoed in the direct reply so a client can match replies to requests.
Each action is a class in `ACTIONS` and a branch in `relay_api.dispatch`
(the storage actions of the S3 fallback included; docs/signalling.md §6).
A field's shape and bounds are its check (`fields.py`), declared beside it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, ClassVar, get_args

from .errors import (
    BadJson,
    InvalidField,
    MissingField,
    SignallingError,
    UnexpectedField,
    UnknownAction,
)
from .fields import (
    AnyJson,
    FieldProblem,
    FieldSpec,
    Integer,
    ListOf,
    OneOf,
    Text,
    optional,
    required,
    specs_of,
)

REF = Text(1, 64)
CONNECTION_ID = Text(1, 128)
RECORD_INDEX = Integer(0, 2**32 - 1)
UPLOAD_ID = Text(1, 1024)
PART_NUMBER = Integer(1, 10_000)
OBJECT_SIZE = Integer(1, 2**53)
MAX_PART_URLS = 16
"""Part URLs per `upload-parts` reply: keeps a reply far below API Gateway's 32 KB frame."""


@dataclass(frozen=True, slots=True, kw_only=True)
class _Message:
    action: ClassVar[str]
    """The wire name of the action (the class's, not a field)."""

    ref: str | None = optional(REF)
    """Client-chosen tag echoed in the reply (and in an error about this message)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Hello(_Message):
    """Say hello after connecting: the relay answers `welcome` and tells the others."""

    action: ClassVar[str] = "hello"


@dataclass(frozen=True, slots=True, kw_only=True)
class Signal(_Message):
    """Forward an opaque payload to the other peer(s) of the room."""

    action: ClassVar[str] = "signal"
    payload: Any = required(AnyJson())
    """Any JSON value; the relay neither reads nor logs it."""
    to: str | None = optional(CONNECTION_ID)
    """One peer's connection id; absent means every other peer of the room."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Ping(_Message):
    """Ask for `pong`."""

    action: ClassVar[str] = "ping"


@dataclass(frozen=True, slots=True, kw_only=True)
class IceServers(_Message):
    """Ask for STUN/TURN servers with fresh TURN credentials."""

    action: ClassVar[str] = "ice-servers"


@dataclass(frozen=True, slots=True, kw_only=True)
class UploadStart(_Message):
    """The sender asks for a PUT URL (manifest, small records) or a multipart upload."""

    action: ClassVar[str] = "upload-start"
    object: str = required(OneOf(("manifest", "records")))
    """Which object of the room's stored transfer."""
    first: int | None = optional(RECORD_INDEX)
    """Records only: index of the object's first record."""
    parts: int | None = optional(Integer(0, 10_000))
    """Records only: 0 for one single PUT, else the multipart upload's part count."""
    size: int = required(OBJECT_SIZE)
    """Exact bytes of the object; the PUT URLs sign it, so S3 refuses any other size."""
    partSize: int | None = optional(OBJECT_SIZE)  # noqa: N815 (the wire name)
    """Multipart only: bytes of every part but the last."""


@dataclass(frozen=True, slots=True, kw_only=True)
class UploadParts(_Message):
    """The sender asks for UploadPart URLs of its multipart upload."""

    action: ClassVar[str] = "upload-parts"
    first: int = required(RECORD_INDEX)
    """Index of the records object's first record."""
    uploadId: str = required(UPLOAD_ID)  # noqa: N815 (the wire name)
    """From `upload-start`."""
    parts: tuple[int, ...] = required(ListOf(PART_NUMBER, 1, MAX_PART_URLS))
    """Distinct part numbers."""


@dataclass(frozen=True, slots=True, kw_only=True)
class UploadComplete(_Message):
    """The sender says every part is uploaded; the relay completes the upload."""

    action: ClassVar[str] = "upload-complete"
    first: int = required(RECORD_INDEX)
    """Index of the records object's first record."""
    uploadId: str = required(UPLOAD_ID)  # noqa: N815 (the wire name)
    """From `upload-start`."""
    parts: int = required(PART_NUMBER)
    """How many parts the upload has."""


@dataclass(frozen=True, slots=True, kw_only=True)
class DownloadUrls(_Message):
    """Any member asks for GET URLs of the room's stored transfer."""

    action: ClassVar[str] = "download-urls"


@dataclass(frozen=True, slots=True, kw_only=True)
class TransferLimits(_Message):
    """The sender sets its stored transfer's limits (transfers.py; docs/signalling.md §8)."""

    action: ClassVar[str] = "transfer-limits"
    downloads: int | None = optional(Integer(1, 1000))
    """Completed downloads after which the stored transfer is deleted."""
    expiresIn: int | None = optional(Integer(1, 2**31))  # noqa: N815 (the wire name)
    """Seconds from now after which the stored transfer is deleted."""


@dataclass(frozen=True, slots=True, kw_only=True)
class DownloadDone(_Message):
    """A receiver verified the whole transfer: one completed download."""

    action: ClassVar[str] = "download-done"


@dataclass(frozen=True, slots=True, kw_only=True)
class Revoke(_Message):
    """Any member deletes the room's stored transfer now."""

    action: ClassVar[str] = "revoke"


@dataclass(frozen=True, slots=True, kw_only=True)
class AllocateNameplate(_Message):
    """A room's sender asks for a nameplate, the number of a spoken code (nameplates.py)."""

    action: ClassVar[str] = "nameplate"


AnyMessage = (
    Hello | Signal | Ping | IceServers | UploadStart | UploadParts | UploadComplete | DownloadUrls
    | AllocateNameplate | TransferLimits | DownloadDone | Revoke
)
ACTIONS: dict[str, type[AnyMessage]] = {cls.action: cls for cls in get_args(AnyMessage)}
_SPECS: dict[str, tuple[FieldSpec, ...]] = {name: specs_of(cls) for name, cls in ACTIONS.items()}
_TAKES: dict[str, frozenset[str]] = {
    name: frozenset({"action", *(spec.name for spec in specs)}) for name, specs in _SPECS.items()
}


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


def _build(action: str, data: dict[str, Any]) -> AnyMessage:
    """The message `data` makes for `action`, or the first problem in field order, then any
    field the action does not take."""
    values: dict[str, Any] = {}
    for spec in _SPECS[action]:
        if spec.name not in data:
            if spec.required:
                raise MissingField(f"{action} needs the field {spec.name}.")
            continue
        value = data[spec.name]
        if value is None and not spec.required:
            continue
        try:
            values[spec.name] = spec.check(value)
        except FieldProblem as problem:
            name = ".".join([spec.name, *map(str, problem.path)])
            raise InvalidField(f"The field {name} is invalid: {problem.reason}.") from None
    for name in data:
        if name not in _TAKES[action]:
            raise UnexpectedField(f"{action} does not take the field {name}.")
    return ACTIONS[action](**values)


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
        return _build(action, data)
    except SignallingError as err:
        err.ref = ref if ref is not None and len(ref) <= 64 else None
        raise
