"""The ristretto255 group operations of libsodium, through ctypes.

PyNaCl (1.6) binds libsodium's ed25519 functions but not its ristretto255 ones,
and its bundled library does not export them, so this adapter loads the system
libsodium (Debian `libsodium23`, >= 1.0.18) and calls exactly two audited
functions. Nothing else of libsodium is used.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools

from ..errors import CryptoBackendError

__all__ = ["POINT_BYTES", "from_hash", "scalar_mult"]

POINT_BYTES = 32
HASH_BYTES = 64


@functools.cache
def _lib() -> ctypes.CDLL:
    name = ctypes.util.find_library("sodium") or "libsodium.so.23"
    try:
        lib = ctypes.CDLL(name)
        if lib.sodium_init() < 0:
            raise OSError("sodium_init failed")
        lib.crypto_core_ristretto255_from_hash.argtypes = [ctypes.c_char_p, ctypes.c_char_p]
        lib.crypto_scalarmult_ristretto255.argtypes = [
            ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p]
    except (OSError, AttributeError) as exc:
        raise CryptoBackendError(
            f"libsodium with ristretto255 is needed for spoken codes ({exc}); "
            "install it: apt-get install libsodium23"
        ) from None
    return lib


def from_hash(uniform: bytes) -> bytes:
    """RFC 9496 element derivation: 64 uniform bytes -> an encoded ristretto255 element."""
    if len(uniform) != HASH_BYTES:
        raise ValueError("element derivation takes 64 bytes")
    out = ctypes.create_string_buffer(POINT_BYTES)
    _lib().crypto_core_ristretto255_from_hash(out, uniform)
    return out.raw


def scalar_mult(scalar: bytes, point: bytes) -> bytes | None:
    """`scalar * decode(point)`, encoded; None when `point` does not decode or the
    result is the identity (libsodium refuses both, as CPace's scalar_mult_vfy must)."""
    if len(scalar) != 32 or len(point) != POINT_BYTES:
        return None
    out = ctypes.create_string_buffer(POINT_BYTES)
    if _lib().crypto_scalarmult_ristretto255(out, scalar, point) != 0:
        return None
    return out.raw
