"""The link secret: 256 random bits, carried only in a URL fragment or as a bare code."""

from __future__ import annotations

import base64
import os
import re
from collections.abc import Callable
from dataclasses import dataclass

from ..errors import MissingFragmentError, SecretAlphabetError, SecretLengthError

SECRET_BYTES = 32
CODE_LENGTH = 43  # base64url of 32 bytes, unpadded
_ALPHABET = re.compile(r"[A-Za-z0-9_-]*")
WHITESPACE = " \t\n\v\f\r"
"""What `parse` trims from both ends: ASCII whitespace only, as the page does (protocol.md §1)."""
_DASH = 62  # "-" in base64url: the first character is the first byte's top six bits

__all__ = ["CODE_LENGTH", "SECRET_BYTES", "TransferSecret"]


@dataclass(frozen=True)
class TransferSecret:
    """The 256-bit secret every key of a transfer is derived from."""

    raw: bytes
    """Exactly 32 bytes."""

    def __post_init__(self) -> None:
        if len(self.raw) != SECRET_BYTES:
            raise SecretLengthError(f"a secret is {SECRET_BYTES} bytes, not {len(self.raw)}")

    @classmethod
    def generate(cls, randbytes: Callable[[int], bytes] = os.urandom) -> TransferSecret:
        """Make a fresh secret (randomness injectable for test vectors).

        A code never begins with `-` (drawn again, 1 in 64): command lines would take
        it for an option. Old codes that do are still accepted everywhere.
        """
        raw = randbytes(SECRET_BYTES)
        while raw[0] >> 2 == _DASH:
            raw = randbytes(SECRET_BYTES)
        return cls(raw)

    @property
    def code(self) -> str:
        """The compact text form: 43 characters of unpadded base64url."""
        return base64.urlsafe_b64encode(self.raw).rstrip(b"=").decode("ascii")

    def link(self, base_url: str) -> str:
        """A share link: the code travels in the fragment, which browsers never send."""
        return f"{base_url.split('#', 1)[0]}#{self.code}"

    @classmethod
    def parse(cls, text: str) -> TransferSecret:
        """Read a share link or a bare code; a `LinkError` subclass says what is wrong.

        The checks run in the order docs/protocol.md §1 gives, so every implementation
        reports the same error for the same text.
        """
        text = text.strip(WHITESPACE)
        if "#" in text:
            code = text.split("#", 1)[1]
        elif "://" in text or text.startswith(("/", "?")):
            raise MissingFragmentError(
                "the link has no '#…' part; copy the whole link, including what follows '#'"
            )
        else:
            code = text
        if not _ALPHABET.fullmatch(code):
            raise SecretAlphabetError(
                "the code may hold only letters, digits, '-' and '_'; check it was copied whole"
            )
        if len(code) != CODE_LENGTH:
            raise SecretLengthError(
                f"the code is {CODE_LENGTH} characters long, this one has {len(code)}"
            )
        raw = base64.urlsafe_b64decode(code + "=")
        secret = cls(raw)
        if secret.code != code:  # the last character carries 2 unused bits that must be zero
            raise SecretAlphabetError("the code's last character is not a valid ending")
        return secret
