"""aiortc's DTLS connection, read and written in whole records through lean calls.

aiortc 1.16 drives its pyOpenSSL `SSL.Connection` over memory BIOs, four calls per
datagram: `bio_write` and `recv` for each one received, `send` and `bio_read` for each
one sent, plus a `bio_read` after each one received in case OpenSSL answered it. Once
the handshake is over, `read_whole_records` puts `WholeRecords` in its place (the
path-MTU adapter does, `sctp_pmtu`):

- **Whole records.** aiortc reads with 1,500-byte buffers, so an SCTP packet larger
  than that would be cut; these calls read up to `RECORD_LIMIT`.
- **No error for an empty outgoing BIO.** After a datagram received, OpenSSL almost
  never has anything to send, and pyOpenSSL answers that read by raising
  `WantReadError`, which aiortc catches; the BIO's length is asked first (about 4 µs a
  datagram received).
- **Lean calls.** pyOpenSSL wraps each call in Python: a fresh buffer per read, a
  `with` block around each write, an error check through the context's helpers on
  success too. These call OpenSSL's `SSL_read`, `SSL_write`, `BIO_read` and `BIO_write`
  through the same cffi library on the connection's own `SSL` and BIOs, and hand any
  result other than success to pyOpenSSL's own error handling, which raises what
  pyOpenSSL would. OpenSSL still does all of DTLS: the records, keys and sequence
  numbers are its own. A received datagram's two calls went from 7.8 to 3.7 µs, a
  sent one's from 8.1 to 4.1, in a microbenchmark (docs/benchmarks.md).

The lean calls need pyOpenSSL's private `_ssl`, `_into_ssl`, `_from_ssl`,
`_raise_ssl_error` and `_handle_bio_errors` and the cffi library's five functions
(pyOpenSSL 26.4 has them). Where one is missing, or a
call gets a flag or a buffer other than bytes, the wrapper calls pyOpenSSL's method
as before. tests/unit/test_dtls_records.py checks that each call gives what
pyOpenSSL's gives, errors included, and fails if those names go.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

from OpenSSL._util import ffi as openssl_ffi
from OpenSSL._util import lib as openssl_lib

RECORD_LIMIT = 18_432
"""Bytes read per DTLS record: 16 KiB of plaintext and any cipher's expansion."""


class _Calls(NamedTuple):
    recv: Callable[..., bytes]
    bio_read: Callable[[int], bytes]
    bio_write: Callable[[Any], int]
    send: Callable[..., int]


def _pyopenssl_calls(conn: Any) -> _Calls:
    """pyOpenSSL's own methods, reading whole records (and, where the BIO's length can
    be asked, an empty outgoing BIO as b"")."""
    bio = getattr(conn, "_from_ssl", None)
    length = getattr(openssl_lib, "BIO_get_mem_data", None)

    def recv(bufsiz: int, flags: Any = None) -> bytes:
        return conn.recv(max(bufsiz, RECORD_LIMIT), flags)

    def bio_read(bufsiz: int) -> bytes:
        if bio is not None and length is not None and length(bio, openssl_ffi.NULL) <= 0:
            return b""
        return conn.bio_read(max(bufsiz, RECORD_LIMIT))

    return _Calls(recv, bio_read, conn.bio_write, conn.send)


def _lean_calls(conn: Any) -> _Calls | None:
    """OpenSSL's calls on `conn`'s own `SSL` and memory BIOs; None where this
    pyOpenSSL lacks what they need (or `conn` has no memory BIOs)."""
    try:
        ssl, into, out = conn._ssl, conn._into_ssl, conn._from_ssl
        raise_ssl_error, bio_error = conn._raise_ssl_error, conn._handle_bio_errors
        ssl_read, ssl_write = openssl_lib.SSL_read, openssl_lib.SSL_write
        bio_read_, bio_write_ = openssl_lib.BIO_read, openssl_lib.BIO_write
        length = openssl_lib.BIO_get_mem_data
    except AttributeError:
        return None
    if into is None or out is None:
        return None
    plain = _pyopenssl_calls(conn)
    # one buffer for every read: each read copies out of it before it returns, and
    # every call runs on the event loop's thread
    buffer = openssl_ffi.new("char[]", RECORD_LIMIT)
    copy = openssl_ffi.buffer
    null = openssl_ffi.NULL

    def recv(bufsiz: int, flags: Any = None) -> bytes:
        if flags is not None:
            return plain.recv(bufsiz, flags)
        size = ssl_read(ssl, buffer, RECORD_LIMIT)
        if size <= 0:
            raise_ssl_error(ssl, size)  # WantReadError, ZeroReturnError, SSL.Error...
            return b""
        return copy(buffer, size)[:]

    def bio_read(bufsiz: int) -> bytes:
        if length(out, null) <= 0:
            return b""
        size = bio_read_(out, buffer, RECORD_LIMIT)
        if size <= 0:
            bio_error(out, size)
            return b""
        return copy(buffer, size)[:]

    def bio_write(data: Any) -> int:
        if type(data) is not bytes:
            return plain.bio_write(data)
        size: int = bio_write_(into, data, len(data))
        if size <= 0:
            bio_error(into, size)
        return size

    def send(data: Any, flags: int = 0) -> int:
        if type(data) is not bytes:
            return plain.send(data, flags)
        size: int = ssl_write(ssl, data, len(data))
        if size <= 0:
            raise_ssl_error(ssl, size)
        return size

    return _Calls(recv, bio_read, bio_write, send)


class WholeRecords:
    """aiortc's pyOpenSSL connection with the four calls of every datagram replaced
    (see above); everything else goes to the connection itself."""

    __slots__ = ("_conn", "lean", "recv", "bio_read", "bio_write", "send")

    def __init__(self, conn: Any) -> None:
        self._conn = conn
        calls = _lean_calls(conn)
        self.lean = calls is not None
        # bound here, not found through `__getattr__`: that would first fail a lookup
        # (an AttributeError, its message formatted) on every datagram
        self.recv, self.bio_read, self.bio_write, self.send = calls or _pyopenssl_calls(conn)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._conn, name)


def read_whole_records(dtls: Any) -> bool:
    """Wrap `dtls`'s connection (after its handshake) in `WholeRecords`; False when
    there is none, or it already is."""
    conn = getattr(dtls, "_ssl", None)
    if conn is None or isinstance(conn, WholeRecords):
        return False
    dtls._ssl = WholeRecords(conn)
    return True
