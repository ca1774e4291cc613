"""The DTLS context made while signalling waits, not after ICE (#14: setup time).

aiortc builds a new pyOpenSSL `SSL.Context` for its certificate when the DTLS
handshake starts (`RTCDtlsTransport.start` calls `RTCCertificate._create_ssl_context`),
that is right after ICE completes, on the critical path of every setup and on both
peers: it converts the certificate and its key to OpenSSL objects and sets up the
context. In the `-vv` logs of two CLI peers that was 10-25 ms per peer between "ICE
completed" and the DTLS handshake's first flight (over 100 ms under load). The context
depends on nothing but the certificate (aiortc makes one per connection, when the
connection is created) and the SRTP profiles, so it can be made before ICE, once each
side has sent its description and waits: the offerer for the answer, the answerer for
the offerer's connectivity check. (Not earlier: the answerer's offer may already be
waiting when its connection is made.)

`make_dtls_context_ahead(pc)` builds it with aiortc's own method and shadows
`_create_ssl_context` on that one certificate object (an instance attribute): the next
call with the same profiles gets the context made ahead, once; any other call is
aiortc's own. The handshake is otherwise unchanged: same certificate, key, options,
verify callback and cipher list, and a context is still used by one connection only.

Pinned to the aiortc release it was checked against (`PINNED_AIORTC`): on another it
does not install (a warning is logged) and aiortc builds the context as it does;
tests/unit/test_dtls_ahead.py hashes the methods it relies on.
"""

from __future__ import annotations

import logging
from typing import Any

import aiortc
from aiortc import RTCPeerConnection
from aiortc.rtcdtlstransport import SRTP_PROFILES, RTCCertificate

logger = logging.getLogger(__name__)

PINNED_AIORTC = "1.16.0"
"""The aiortc release whose DTLS start this adapter was written against."""
_MARK = "_sgraph_send_dtls_context_ahead"


def supported() -> bool:
    """Whether the installed aiortc is the one this adapter was checked against (its
    `__version__`: package metadata costs milliseconds per read, on setup's path)."""
    return aiortc.__version__ == PINNED_AIORTC


def certificates_of(pc: RTCPeerConnection) -> list[RTCCertificate]:
    """The certificates aiortc made for `pc` (one; its DTLS transports use it)."""
    found: list[RTCCertificate] = getattr(pc, "_RTCPeerConnection__certificates", [])
    return found


def make_dtls_context_ahead(pc: RTCPeerConnection) -> bool:
    """Build the DTLS context of `pc`'s certificate now (idempotent); False when nothing
    was installed (no certificate found, or another aiortc release: a warning)."""
    if not supported():
        logger.warning("aiortc %s is not %s: the DTLS context is made after ICE",
                       aiortc.__version__, PINNED_AIORTC)
        return False
    certificates = certificates_of(pc)
    if not certificates:
        return False
    for certificate in certificates:
        _install(certificate)
    return True


def _install(certificate: RTCCertificate) -> None:
    if getattr(certificate, _MARK, False):
        return
    profiles = list(SRTP_PROFILES)
    made: list[Any] = [certificate._create_ssl_context(srtp_profiles=profiles)]

    def create_ssl_context(srtp_profiles: list[Any]) -> Any:
        if made and list(srtp_profiles) == profiles:
            return made.pop()
        return RTCCertificate._create_ssl_context(certificate, srtp_profiles)

    certificate._create_ssl_context = create_ssl_context  # type: ignore[method-assign]
    setattr(certificate, _MARK, True)
