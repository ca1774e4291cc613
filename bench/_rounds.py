"""Interleaved rounds of cases that write to disk: each case's turn and a clean start."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TypeVar

T = TypeVar("T")


def round_order(cases: Sequence[T], round_no: int) -> list[T]:
    """The cases of round `round_no` (from 0), reversed every other round.

    A case run second inherits what the first left behind (its written pages still going
    to disk, a cache it warmed), so no case may always run second.
    """
    return list(cases) if round_no % 2 == 0 else list(reversed(cases))


def settle_disk() -> None:
    """Write back every dirty page before a case starts, so it pays for its own writes only."""
    os.sync()
