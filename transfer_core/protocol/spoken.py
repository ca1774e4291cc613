"""Spoken codes: `7-guitarist-revenge-amulet`, a nameplate number and three PGP words.

The number names a short-lived nameplate at the relay (it is public); the words
are the password of the PAKE (docs/protocol.md §11). Three words carry 24 bits,
so one guess succeeds with probability 1 in 16,777,216, and a relay allows one
guess per nameplate.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass

from ..errors import SpokenCodeError
from .pgp_words import EVEN, ODD

__all__ = ["MAX_NAMEPLATE", "WORDS", "SpokenCode", "looks_spoken"]

WORDS = 3
MAX_NAMEPLATE = 999_999
_SPOKEN = re.compile(r"^\s*\d+[\s-]+[A-Za-z]")
_ODD_INDEX = {w: i for i, w in enumerate(ODD)}
_EVEN_INDEX = {w: i for i, w in enumerate(EVEN)}


_LINK_CODE = re.compile(r"[A-Za-z0-9_-]{43}")


def looks_spoken(text: str) -> bool:
    """True for `7-word-word-word` (a number first); False for a link or a link code.

    A link's 43-character code may itself begin with a digit and `-` (base64url), so
    text of that exact form is a spoken code only if all its words are in the lists.
    """
    text = text.strip()
    if not _SPOKEN.match(text):
        return False
    if _LINK_CODE.fullmatch(text):
        words = [p for p in re.split(r"[\s-]+", text.lower()) if p][1:]
        return bool(words) and all(w in _ODD_INDEX or w in _EVEN_INDEX for w in words)
    return True


def _list_for(position: int) -> tuple[str, ...]:
    return ODD if position % 2 == 0 else EVEN


@dataclass(frozen=True)
class SpokenCode:
    """A nameplate number and the words a person reads out."""

    nameplate: int
    """The relay's nameplate, 1 … 999999."""
    words: tuple[str, ...]
    """Lower-case PGP words, odd list at even positions (0, 2) and even list between."""

    def __str__(self) -> str:
        return "-".join([str(self.nameplate), *self.words])

    def __repr__(self) -> str:  # the words are the password: never in a log by accident
        return f"SpokenCode(nameplate={self.nameplate}, words=…)"

    @property
    def password(self) -> bytes:
        """CPace's PRS: the words joined by `-`, ASCII."""
        return "-".join(self.words).encode("ascii")

    @classmethod
    def generate(
        cls, nameplate: int, randbytes: Callable[[int], bytes] = os.urandom
    ) -> SpokenCode:
        """Fresh words for a nameplate: one random byte per word."""
        picks = randbytes(WORDS)
        return cls(nameplate, tuple(_list_for(i)[b] for i, b in enumerate(picks)))

    @classmethod
    def parse(cls, text: str) -> SpokenCode:
        """Read `7-guitarist-revenge-amulet` (any case; spaces or hyphens between)."""
        parts = [p for p in re.split(r"[\s-]+", text.strip().lower()) if p]
        if not parts or not parts[0].isdigit():
            raise SpokenCodeError("a spoken code starts with its number, e.g. 7-guitarist-…")
        nameplate = int(parts[0])
        if not 1 <= nameplate <= MAX_NAMEPLATE:
            raise SpokenCodeError(f"the code's number must be 1 to {MAX_NAMEPLATE}")
        words = tuple(parts[1:])
        if len(words) != WORDS:
            raise SpokenCodeError(
                f"a spoken code has {WORDS} words after its number; this one has {len(words)}"
            )
        for i, word in enumerate(words):
            expected, other = (_ODD_INDEX, _EVEN_INDEX) if i % 2 == 0 else (_EVEN_INDEX,
                                                                             _ODD_INDEX)
            if word in expected:
                continue
            if word in other:
                raise SpokenCodeError(
                    f"word {i + 1} ({word!r}) belongs in another position: were two words swapped?"
                )
            raise SpokenCodeError(f"word {i + 1} ({word!r}) is not in the word list; check it")
        return cls(nameplate, words)
