"""A tiny state machine: states as an Enum, allowed moves in one table, one setter."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from enum import Enum
from typing import Generic, TypeVar

from ..errors import SGraphSendError

S = TypeVar("S", bound=Enum)
logger = logging.getLogger(__name__)


class InvalidTransitionError(SGraphSendError):
    """A session tried a move its transition table does not allow (a bug, not bad input)."""


class StateMachine(Generic[S]):
    """Holds one state; `move` checks the table, logs `old -> new` and tells listeners."""

    def __init__(self, name: str, initial: S, table: Mapping[S, frozenset[S]]) -> None:
        self.name = name
        self.state = initial
        self._table = table
        self._listeners: list[Callable[[S, S], None]] = []

    def on_change(self, listener: Callable[[S, S], None]) -> None:
        self._listeners.append(listener)

    def can_move(self, new: S) -> bool:
        return new in self._table.get(self.state, frozenset())

    def move(self, new: S) -> None:
        old = self.state
        if new not in self._table.get(old, frozenset()):
            raise InvalidTransitionError(f"{self.name}: {old.name} -> {new.name} is not allowed")
        logger.debug("%s: %s -> %s", self.name, old.name, new.name)
        self.state = new
        for listener in self._listeners:
            listener(old, new)
