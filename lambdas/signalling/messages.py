"""Client-to-server messages (pydantic models) and their parser; imported by the relay only.

Every message is a JSON object with an `action`; each action takes exactly the
fields listed on its model (anything else is refused), plus an optional `ref`
string echoed in the direct reply so a client can match replies to requests.
Future actions (the S3 fallback's presigning) become new members of
`ClientMessage` and a new branch in `relay_api.dispatch`.
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


ClientMessage = Annotated[Hello | Signal | Ping | IceServers, Field(discriminator="action")]
ACTIONS: dict[str, type[_Message]] = {
    "hello": Hello,
    "signal": Signal,
    "ping": Ping,
    "ice-servers": IceServers,
}
_ADAPTER: TypeAdapter[Hello | Signal | Ping | IceServers] = TypeAdapter(ClientMessage)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _field(loc: tuple[Any, ...]) -> str:
    # loc is (action, field, ...) for a tagged union; the field is what a client needs.
    parts = [str(p) for p in loc[1:]] or [str(p) for p in loc]
    return ".".join(parts)


def parse_message(body: str | None, is_base64: bool = False) -> Hello | Signal | Ping | IceServers:
    """Parse one message body; raise a `SignallingError` naming the first problem."""
    if is_base64 or body is None:
        raise BadJson("Binary frames are not supported; send a JSON text message.")
    try:
        data = json.loads(body, parse_constant=_reject_constant)
    except (ValueError, RecursionError):
        raise BadJson("The message is not valid JSON.") from None
    if not isinstance(data, dict):
        raise BadJson("The message must be a JSON object.")
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
