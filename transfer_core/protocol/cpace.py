"""CPace over ristretto255 with SHA-512 (draft-irtf-cfrg-cpace, initiator-responder).

Pure functions over bytes; the group operations come from libsodium (`sodium`).
`docs/protocol.md` §11 says how SGraph Send fills CPace's inputs; the draft's own
test vectors are checked in `tests/unit/test_cpace.py` and in the page's self-test.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from dataclasses import dataclass

from . import sodium

__all__ = [
    "DSI",
    "CPaceError",
    "Share",
    "calculate_generator",
    "generator_string",
    "isk",
    "lv_cat",
    "prepend_len",
    "sample_scalar",
    "share",
    "transcript_ir",
]

DSI = b"CPaceRistretto255"
S_IN_BYTES = 128  # SHA-512's input block size


class CPaceError(Exception):
    """The peer's share does not decode to a group element, or gives the identity."""


def prepend_len(data: bytes) -> bytes:
    """LEB128 length, then the bytes."""
    n, out = len(data), bytearray()
    while True:
        if n < 128:
            out.append(n)
            break
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    return bytes(out) + data


def lv_cat(*parts: bytes) -> bytes:
    """Length-value concatenation."""
    return b"".join(prepend_len(p) for p in parts)


def generator_string(prs: bytes, ci: bytes, sid: bytes) -> bytes:
    """The draft's generator_string(DSI, PRS, CI, sid, s_in_bytes)."""
    zpad = max(0, S_IN_BYTES - 1 - len(prepend_len(prs)) - len(prepend_len(DSI)))
    return lv_cat(DSI, prs, bytes(zpad), ci, sid)


def calculate_generator(prs: bytes, ci: bytes, sid: bytes) -> bytes:
    """g = element_derivation(SHA-512(generator_string)), encoded."""
    return sodium.from_hash(hashlib.sha512(generator_string(prs, ci, sid)).digest())


def sample_scalar(randbytes: Callable[[int], bytes] = os.urandom) -> bytes:
    """32 random bytes with the bits above 2^252 cleared (the draft's recommendation)."""
    raw = bytearray(randbytes(32))
    raw[31] &= 0x0F
    return bytes(raw)


@dataclass(frozen=True)
class Share:
    """One party's secret scalar and public share."""

    scalar: bytes
    """y, 32 bytes little endian; never leaves the process."""
    public: bytes
    """Y = y·g, encoded (32 bytes)."""

    def __repr__(self) -> str:
        return f"Share(scalar=…, public={self.public.hex()})"


def share(generator: bytes, scalar: bytes) -> Share:
    """Y = scalar·g."""
    public = sodium.scalar_mult(scalar, generator)
    if public is None:  # a zero scalar: probability 2^-252
        raise CPaceError("the scalar gave the identity; sample another")
    return Share(scalar, public)


def transcript_ir(ya: bytes, ada: bytes, yb: bytes, adb: bytes) -> bytes:
    """Initiator-responder transcript: lv_cat(Ya, ADa) || lv_cat(Yb, ADb)."""
    return lv_cat(ya, ada) + lv_cat(yb, adb)


def isk(own: Share, peer_public: bytes, sid: bytes, transcript: bytes) -> bytes:
    """ISK = SHA-512(lv_cat(DSI || "_ISK", sid, K) || transcript); K = y·Y_peer."""
    k = sodium.scalar_mult(own.scalar, peer_public)
    if k is None:
        raise CPaceError("the peer's share is not a valid ristretto255 element")
    return hashlib.sha512(lv_cat(DSI + b"_ISK", sid, k) + transcript).digest()
