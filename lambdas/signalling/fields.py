"""The shapes a client message's fields may take, each a check over the decoded JSON value.

Five shapes cover every action (`messages.py`): bounded text, a bounded whole number, one
of a few constants, a bounded list of one shape, and any JSON value. Written out here
rather than taken from a schema library because the relay imports them on every cold start:
pydantic and the models cost about 100 ms of its import, these about 16 (`-X importtime`).

A check returns the value it accepts and raises `FieldProblem` saying what the field must
be; `messages.parse_message` turns that into an `InvalidField` that names the field.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Protocol


class FieldProblem(Exception):
    """A value does not fit its field: `reason` says what it must be, `path` where inside."""

    def __init__(self, reason: str, path: tuple[int, ...] = ()) -> None:
        super().__init__(reason)
        self.reason = reason
        self.path = path


class Check(Protocol):
    """Accept a decoded JSON value (returning what the message keeps) or raise `FieldProblem`."""

    def __call__(self, value: Any) -> Any: ...


@dataclass(frozen=True, slots=True)
class Text:
    """A JSON string of `min_length` to `max_length` characters."""

    min_length: int
    max_length: int

    def __call__(self, value: Any) -> str:
        if not isinstance(value, str) or not self.min_length <= len(value) <= self.max_length:
            raise FieldProblem(
                f"it must be a string of {self.min_length} to {self.max_length} characters"
            )
        return value


@dataclass(frozen=True, slots=True)
class Integer:
    """A JSON whole number from `low` to `high`; `true`, `1.0` and `"1"` are not numbers here."""

    low: int
    high: int

    def __call__(self, value: Any) -> int:
        # type() and not isinstance(): bool is an int subclass, and JSON's true is not 1
        if type(value) is not int or not self.low <= value <= self.high:
            raise FieldProblem(f"it must be a whole number from {self.low} to {self.high}")
        return value


@dataclass(frozen=True, slots=True)
class OneOf:
    """One of a few JSON strings."""

    values: tuple[str, ...]

    def __call__(self, value: Any) -> str:
        if not isinstance(value, str) or value not in self.values:
            raise FieldProblem("it must be one of " + ", ".join(self.values))
        return value


@dataclass(frozen=True, slots=True)
class ListOf:
    """A JSON array of `min_length` to `max_length` items, each fitting `item`; kept as a tuple."""

    item: Check
    min_length: int
    max_length: int

    def __call__(self, value: Any) -> tuple[Any, ...]:
        if not isinstance(value, list) or not self.min_length <= len(value) <= self.max_length:
            raise FieldProblem(
                f"it must be a list of {self.min_length} to {self.max_length} items"
            )
        kept = []
        for index, element in enumerate(value):
            try:
                kept.append(self.item(element))
            except FieldProblem as problem:
                raise FieldProblem(problem.reason, (index, *problem.path)) from None
        return tuple(kept)


@dataclass(frozen=True, slots=True)
class AnyJson:
    """Any JSON value, `null` included (the relay forwards it unread)."""

    def __call__(self, value: Any) -> Any:
        return value


@dataclass(frozen=True, slots=True)
class FieldSpec:
    """How a message class takes one of its fields from the JSON object."""

    name: str
    check: Check
    required: bool
    """A required field must be present (`null` only where its check takes it); an optional
    one may be absent or `null`, and is then None."""


def required(check: Check) -> Any:
    """Declare a dataclass field the message must carry."""
    return dataclasses.field(metadata={"spec": (check, True)})


def optional(check: Check) -> Any:
    """Declare a dataclass field the message may leave out or send as `null` (then None)."""
    return dataclasses.field(default=None, metadata={"spec": (check, False)})


def specs_of(cls: type) -> tuple[FieldSpec, ...]:
    """The fields of a message dataclass in declaration order, base class fields first."""
    return tuple(
        FieldSpec(f.name, *f.metadata["spec"]) for f in dataclasses.fields(cls)
    )
