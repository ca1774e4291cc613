"""aiortc's DTLS connection through `transfer_core.webrtc.dtls_records`: whole records,
an empty outgoing BIO read as nothing, and lean calls that give what pyOpenSSL's own
methods give. Real pyOpenSSL DTLS connections, made as aiortc makes them and
handshaken in memory."""

from __future__ import annotations

import contextlib
import inspect
from typing import Any

import aiortc.rtcdtlstransport as dtls_module
import pytest
from aiortc.rtcdtlstransport import SRTP_PROFILES, RTCCertificate
from OpenSSL import SSL

from transfer_core.webrtc.dtls_records import (
    RECORD_LIMIT,
    WholeRecords,
    _pyopenssl_calls,
    read_whole_records,
)
from transfer_core.webrtc.sctp_pmtu import READS_WHOLE


def _dtls_pair() -> tuple[SSL.Connection, SSL.Connection]:
    """Two pyOpenSSL DTLS connections made as aiortc makes them, handshaken in memory."""
    def connection() -> SSL.Connection:
        cert = RTCCertificate.generateCertificate()
        return SSL.Connection(cert._create_ssl_context(srtp_profiles=list(SRTP_PROFILES)))

    client, server = connection(), connection()
    client.set_connect_state()
    server.set_accept_state()
    for _ in range(20):
        for conn in (client, server):
            with contextlib.suppress(SSL.WantReadError):
                conn.do_handshake()
        for source, target in ((client, server), (server, client)):
            with contextlib.suppress(SSL.WantReadError):
                target.bio_write(source.bio_read(65536))
    return client, server


class _Dtls:
    """Where aiortc's `RTCDtlsTransport` keeps its connection."""

    def __init__(self, conn: SSL.Connection) -> None:
        self._ssl: Any = conn


def test_aiortc_makes_the_four_calls_of_every_datagram_on_its_connection() -> None:
    """...the reads with 1,500-byte buffers: why records must be read whole."""
    source = inspect.getsource(dtls_module.RTCDtlsTransport)
    for call in ("self._ssl.bio_write(data)", "self._ssl.recv(1500)",
                 "self._ssl.send(data)", "self._ssl.bio_read(1500)"):
        assert call in source, f"aiortc no longer calls {call}: review dtls_records.py"


def test_openssl_hands_a_1500_byte_reader_the_rest_of_a_record_later() -> None:
    """Why a larger probe must not go to an unadapted aiortc peer: OpenSSL keeps the
    rest of a 16,000-byte record for the next 1,500-byte reads, so from then on that
    peer would read stale bytes for each datagram that arrives."""
    client, server = _dtls_pair()
    client.send(b"A" * 16_000)
    server.bio_write(client.bio_read(65536))
    assert server.recv(1500) == b"A" * 1500
    client.send(b"B" * 100)
    server.bio_write(client.bio_read(65536))
    assert server.recv(1500) == b"A" * 1500  # not the new record


def test_whole_records_are_read_and_written_in_one_piece() -> None:
    client, server = _dtls_pair()
    sender, receiver = _Dtls(client), _Dtls(server)
    assert read_whole_records(sender) and read_whole_records(receiver)
    assert not read_whole_records(sender)  # once
    sender._ssl.send(b"A" * READS_WHOLE)
    record = sender._ssl.bio_read(1500)  # aiortc's call
    assert READS_WHOLE < len(record) <= RECORD_LIMIT
    receiver._ssl.bio_write(record)
    assert receiver._ssl.recv(1500) == b"A" * READS_WHOLE  # aiortc's call


def test_an_empty_outgoing_bio_reads_as_nothing_without_the_error() -> None:
    """aiortc reads the outgoing BIO after every datagram it receives; the wrapper asks
    the BIO's length first instead of letting pyOpenSSL raise `WantReadError` for
    aiortc to catch, and still reads whatever OpenSSL wrote."""
    client, server = _dtls_pair()
    with pytest.raises(SSL.WantReadError):
        client.bio_read(1500)  # what the unwrapped connection does
    sender, receiver = _Dtls(client), _Dtls(server)
    assert read_whole_records(sender) and read_whole_records(receiver)
    assert sender._ssl.bio_read(1500) == b""
    sender._ssl.send(b"B" * 100)
    record = sender._ssl.bio_read(1500)
    assert record and sender._ssl.bio_read(1500) == b""
    receiver._ssl.bio_write(record)
    assert receiver._ssl.recv(1500) == b"B" * 100


def test_this_pyopenssl_has_what_the_lean_calls_need() -> None:
    # fails if a pyOpenSSL upgrade takes a private name away (the wrapper would then
    # fall back to pyOpenSSL's methods: correct, slower)
    _, server = _dtls_pair()
    wrapper = WholeRecords(server)
    assert wrapper.lean
    for name in ("bio_write", "recv", "bio_read", "send"):
        inspect.getattr_static(wrapper, name)  # bound, not found through __getattr__


def _outcome(call: Any, *args: Any) -> tuple[str, Any]:
    try:
        return "returned", call(*args)
    except SSL.Error as exc:
        return "raised", type(exc)


def _script(conns: dict[str, Any]) -> list[tuple[str, Any]]:
    """One run of aiortc's four calls, both ways, over `conns` ("a", "b": either the
    plain connections or the wrapped ones), through every outcome each call has."""
    a, b = conns["a"], conns["b"]
    seen = [_outcome(b.recv, 1500), _outcome(b.bio_read, 1500)]  # nothing there yet
    for size in (1, 1189, READS_WHOLE):
        seen.append(_outcome(a.send, bytes([size % 251]) * size))
        record = a.bio_read(RECORD_LIMIT)
        seen.append(("record", len(record)))
        seen.append(_outcome(b.bio_write, record))
        seen.append(_outcome(b.recv, RECORD_LIMIT))
    a.send(b"tampered")
    broken = bytearray(a.bio_read(RECORD_LIMIT))
    broken[-1] ^= 1
    seen.append(_outcome(b.bio_write, bytes(broken)))
    seen.append(_outcome(b.recv, RECORD_LIMIT))  # a bad record is dropped, as DTLS does
    seen.append(_outcome(a.send, bytearray(b"not bytes")))  # pyOpenSSL's own call
    seen.append(_outcome(b.bio_write, memoryview(a.bio_read(RECORD_LIMIT))))
    seen.append(_outcome(b.recv, RECORD_LIMIT))
    a.shutdown()  # close_notify
    seen.append(_outcome(b.bio_write, a.bio_read(RECORD_LIMIT)))
    seen.append(_outcome(b.recv, RECORD_LIMIT))
    seen.append(_outcome(a.send, b"after close"))
    return seen


def test_the_lean_calls_give_what_pyopenssls_give() -> None:
    plain_a, plain_b = _dtls_pair()
    lean_a, lean_b = _dtls_pair()
    plain = {name: _Whole(conn) for name, conn in (("a", plain_a), ("b", plain_b))}
    lean = {"a": WholeRecords(lean_a), "b": WholeRecords(lean_b)}
    assert lean["a"].lean and lean["b"].lean
    expected = _script(plain)
    assert _script(lean) == expected
    assert ("returned", bytes([READS_WHOLE % 251]) * READS_WHOLE) in expected
    assert expected[-2:] == [("raised", SSL.ZeroReturnError), ("raised", SSL.Error)]


class _Whole:
    """pyOpenSSL's own methods, reading whole records: the wrapper without lean calls."""

    def __init__(self, conn: SSL.Connection) -> None:
        self.recv, self.bio_read, self.bio_write, self.send = _pyopenssl_calls(conn)
        self.shutdown = conn.shutdown
