"""The DTLS context made before ICE (`transfer_core.webrtc.dtls_ahead`).

Two real aiortc peers pair over 127.0.0.1 in this process (host candidates only); the
pin tests fail loudly when aiortc changes: the adapter relies on private names and on
the shape of the methods below, re-read them before updating the hashes. Setup speed
is measured in bench/bench_p2p.py, never here.
"""

from __future__ import annotations

import asyncio
import multiprocessing
from importlib.metadata import version
from typing import Any

import pytest
from aiortc import RTCPeerConnection
from aiortc.rtcdtlstransport import SRTP_PROFILES, RTCCertificate, RTCDtlsTransport

from tests.unit.pins import source_digest
from transfer_core.webrtc import IceSettings, dtls_ahead, open_as_answerer, open_as_offerer
from transfer_core.webrtc.dtls_ahead import PINNED_AIORTC, make_dtls_context_ahead
from transfer_core.webrtc.testing import PipeExchange

# sha256 (first 16 hex digits) of `inspect.getsource` of what the adapter relies on, as
# reviewed for aiortc 1.16.0: the connection makes one certificate in `__init__`
# (`self.__certificates`) and hands it to each DTLS transport, which keeps it and the
# SRTP profiles (`SRTP_PROFILES`); `start` calls `_create_ssl_context(srtp_profiles=…)`
# on that certificate once, wraps the context in one `SSL.Connection`, and
# `_create_ssl_context` depends on nothing but the certificate and the profiles.
PINNED_SOURCES = {
    "RTCPeerConnection.__init__": (RTCPeerConnection, "f5388aea637f0f21"),
    "RTCDtlsTransport.__init__": (RTCDtlsTransport, "3bffce6c2b56b5dc"),
    "RTCDtlsTransport.start": (RTCDtlsTransport, "3b3522667fe0a3da"),
    "RTCCertificate._create_ssl_context": (RTCCertificate, "aac625bdc264f0a6"),
}


def test_aiortc_is_the_pinned_release() -> None:
    assert version("aiortc") == PINNED_AIORTC, (
        f"aiortc {version('aiortc')} is installed but the DTLS adapter was checked against"
        f" {PINNED_AIORTC}: review transfer_core/webrtc/dtls_ahead.py against the new"
        " RTCDtlsTransport.start, then update PINNED_AIORTC and PINNED_SOURCES"
    )
    assert dtls_ahead.supported()


@pytest.mark.parametrize("name", sorted(PINNED_SOURCES))
def test_aiortc_methods_the_adapter_relies_on_are_unchanged(name: str) -> None:
    owner, pinned = PINNED_SOURCES[name]
    assert source_digest(owner, name.split(".")[1]) == pinned, (
        f"aiortc's {name} changed: review dtls_ahead.py against it")


async def test_the_context_is_made_once_ahead_and_used_once() -> None:
    pc = RTCPeerConnection()
    try:
        (certificate,) = dtls_ahead.certificates_of(pc)
        assert make_dtls_context_ahead(pc)
        assert make_dtls_context_ahead(pc)  # idempotent: still the one made first
        first = certificate._create_ssl_context(srtp_profiles=SRTP_PROFILES)
        again = certificate._create_ssl_context(srtp_profiles=SRTP_PROFILES)
        other = certificate._create_ssl_context(srtp_profiles=SRTP_PROFILES[:1])
        assert len({id(first), id(again), id(other)}) == 3  # each context serves one
    finally:
        await pc.close()


async def test_both_peers_handshake_with_the_contexts_made_before_ice(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    made: list[tuple[Any, str]] = []
    """Every context aiortc's method built, and whether ICE had completed by then."""
    transports: list[RTCDtlsTransport] = []
    original_create = RTCCertificate._create_ssl_context
    original_init = RTCDtlsTransport.__init__

    def spy_init(self: RTCDtlsTransport, *args: Any) -> None:
        original_init(self, *args)
        transports.append(self)

    def spy_create(self: RTCCertificate, srtp_profiles: Any) -> Any:
        context = original_create(self, srtp_profiles)
        ice = {t.transport.state for t in transports}
        made.append((context, "after ICE" if "completed" in ice else "before"))
        return context

    monkeypatch.setattr(RTCDtlsTransport, "__init__", spy_init)
    monkeypatch.setattr(RTCCertificate, "_create_ssl_context", spy_create)
    settings = IceSettings.local()
    a, b = multiprocessing.Pipe()
    left, right = PipeExchange(a), PipeExchange(b)
    offerer, answerer = await asyncio.gather(
        open_as_offerer(settings, left, timeout=20),
        open_as_answerer(settings, right, timeout=20),
    )
    try:
        await offerer.send(b"over the context made ahead")
        assert await answerer.recv() == b"over the context made ahead"
        used = [pipe.peer_connection.sctp.transport._ssl.get_context()  # type: ignore[union-attr]
                for pipe in (offerer, answerer)]
        # one context per peer, both built before ICE completed anywhere, and both used
        assert [when for _, when in made] == ["before", "before"]
        assert {id(c) for c in used} == {id(c) for c, _ in made}
    finally:
        await offerer.close()
        await answerer.close()
        left.close()
        right.close()
