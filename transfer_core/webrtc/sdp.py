"""Pure helpers over SDP text: DTLS fingerprints, `a=max-message-size`, candidate lines.

They read the text the peers exchange, so the signalling layer (which signs and
checks SDP) and the channel (which sizes its messages) agree on one parser.
"""

from __future__ import annotations

from dataclasses import dataclass

from .errors import SdpError

RFC8841_DEFAULT_MAX_MESSAGE_SIZE = 65536
"""What a remote that advertises no `a=max-message-size` is assumed to accept (RFC 8841 §6)."""


@dataclass(frozen=True)
class DtlsFingerprint:
    """One `a=fingerprint:` attribute: the hash of a peer's DTLS certificate."""

    algorithm: str
    """Hash function name, lower case (`sha-256`)."""
    value: str
    """Colon-separated hex bytes, upper case."""

    def __str__(self) -> str:
        return f"{self.algorithm} {self.value}"


def _lines(sdp: str) -> list[str]:
    return [line.strip() for line in sdp.splitlines() if line.strip()]


def dtls_fingerprints(sdp: str) -> list[DtlsFingerprint]:
    """Every distinct `a=fingerprint:` in `sdp`, session or media level, in order.

    Raises `SdpError` when there is none: such an SDP cannot set up DTLS.
    """
    found: list[DtlsFingerprint] = []
    for line in _lines(sdp):
        if not line.startswith("a=fingerprint:"):
            continue
        parts = line[len("a=fingerprint:"):].split()
        if len(parts) != 2:
            raise SdpError(f"malformed fingerprint line: {line!r}")
        fingerprint = DtlsFingerprint(parts[0].lower(), parts[1].upper())
        if fingerprint not in found:
            found.append(fingerprint)
    if not found:
        raise SdpError("the session description carries no DTLS fingerprint")
    return found


def max_message_size(sdp: str) -> int:
    """The `a=max-message-size` the SDP advertises, exactly as written.

    65536 when absent (RFC 8841 §6); 0 means "any size" (RFC 8841 §6 too).
    """
    for line in _lines(sdp):
        if line.startswith("a=max-message-size:"):
            try:
                return int(line.split(":", 1)[1])
            except ValueError as exc:
                raise SdpError(f"malformed max-message-size line: {line!r}") from exc
    return RFC8841_DEFAULT_MAX_MESSAGE_SIZE


MAX_PACKET_ATTRIBUTE = "sgraph-max-packet"
"""`a=sgraph-max-packet:N` (protocol Revision 2.4; the page says 2,048 from 2.5,
web/js/peer.js `withMaxPacket` the same rule): this endpoint reads SCTP packets of
up to N bytes whole (sctp_pmtu.py); absent, 1,500 is all a peer may count on."""


def max_packet(sdp: str) -> int | None:
    """The `a=sgraph-max-packet` the SDP advertises; None when absent or malformed (a
    peer that says nothing useful gets only the probes any peer reads)."""
    prefix = f"a={MAX_PACKET_ATTRIBUTE}:"
    for line in _lines(sdp):
        if line.startswith(prefix):
            value = line[len(prefix):].strip()
            return int(value) if value.isdigit() and 0 < len(value) <= 6 else None
    return None


def with_max_packet(sdp: str, size: int) -> str:
    """`sdp` advertising `a=sgraph-max-packet:size` in its data channel's media
    section (right after `a=max-message-size`, or after `m=application`)."""
    newline = "\r\n" if "\r\n" in sdp else "\n"
    lines = sdp.splitlines()
    if any(line.startswith(f"a={MAX_PACKET_ATTRIBUTE}:") for line in lines):
        return sdp
    anchor = next((i for i, line in enumerate(lines) if line.startswith("a=max-message-size:")),
                  next((i for i, line in enumerate(lines) if line.startswith("m=application")),
                       None))
    if anchor is None:
        return sdp
    lines.insert(anchor + 1, f"a={MAX_PACKET_ATTRIBUTE}:{size}")
    return newline.join(lines) + newline


def candidate_lines(sdp: str) -> list[str]:
    """The `candidate:...` values of every `a=candidate:` line (without the `a=`)."""
    return [line[2:] for line in _lines(sdp) if line.startswith("a=candidate:")]


def candidate_address(candidate: str) -> str:
    """The connection address of one candidate line (`candidate:...` or `a=candidate:...`)."""
    text = candidate.strip()
    if text.startswith("a="):
        text = text[2:]
    if text.startswith("candidate:"):
        text = text[len("candidate:"):]
    bits = text.split()
    if len(bits) < 8 or bits[6] != "typ":
        raise SdpError(f"malformed ICE candidate: {candidate!r}")
    return bits[4]
