"""What a session tells the person watching, and what it hands back when it ends."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Protocol


class Reporter(Protocol):
    """Where sessions send progress; the CLI draws it, tests record it."""

    def status(self, text: str) -> None:
        """A step of the session in words (waiting, connected, resuming, …)."""

    def progress(self, done: int, total: int) -> None:
        """Bytes delivered so far out of the file's size."""


class SilentReporter:
    """A reporter that keeps nothing (library use, benchmarks)."""

    def status(self, text: str) -> None:
        pass

    def progress(self, done: int, total: int) -> None:
        pass


@dataclass
class TransferSummary:
    """The outcome of a finished transfer, as the CLI prints it (and `--json` emits it)."""

    role: str
    """`sender` or `receiver`."""
    name: str
    """The file's name (the receiver's is sanitised)."""
    size: int
    """Bytes."""
    seconds: float
    """From channel open (or first byte) to verified completion."""
    path: str
    """`p2p`, `s3` or `p2p+s3`: what carried the chunks."""
    chunks: dict[str, int] = field(default_factory=dict)
    """Chunks per transport."""
    sha256_verified: bool = False
    """The receiver checked the whole file's SHA-256 (the sender learns it from `done`)."""
    resent_bytes: int = 0
    """Sender: record bytes sent more than once (after breaks, and storage parts sent
    again after a failed request). Receiver: record bytes that arrived again (already
    held); what was lost in flight is known only to the sender."""
    window_bytes: int | None = None
    """Sender: the largest flow-control window any peer-to-peer connection reached
    (transport/window.py): 2 MiB, more where a long path needed it, at most 8 MiB; what
    a break could make it send again. None when no channel opened."""
    reconnects: int = 0
    """Connection attempts after the first."""
    setup_ms: float | None = None
    """Receiver: session start (relay connect) to the first open channel; sender: the
    first `ready` to an open channel."""
    destination: str | None = None
    """Where the receiver saved the file."""
    route: str | None = None
    """The ICE candidate pair of the last peer-to-peer connection, as `local/remote`
    candidate types (`host/host`, `host/srflx`, `relay/relay`, …); None when no channel
    opened. A `relay` on either side means a TURN server carried the packets."""
    packet_size: int | None = None
    """Sender: the SCTP packet size (bytes) of the last peer-to-peer connection: 1,189
    is WebRTC's size for any path, larger where the path carried a probe of that size
    (webrtc/sctp_pmtu.py); None when no channel opened."""
    stored_until: int | None = None
    """Sender, when the file (or its remainder) went to storage: epoch seconds until
    which the receiver can fetch it."""
    receipts: list[dict[str, Any]] | None = None
    """Signed receipts (session.receipt): the sender's, every verified one it got; the
    receiver's, the one it sent. None when there were none to give."""
    upload_stopped: bool = False
    """Sender: it was storing the file for an absent receiver, which came online; the
    upload stopped and the rest went peer to peer (#15 §3)."""
    receivers: list[dict[str, Any]] | None = None
    """Sender with `--receivers N` (#15): one entry per receiver, by its number."""
    entries: list[dict[str, Any]] | None = None
    """Many files and folders (#15): each entry's `path`, `kind` and `size`, in order;
    None for one file."""

    @property
    def mb_per_s(self) -> float:
        return self.size / 1e6 / self.seconds if self.seconds > 0 else 0.0

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "mb_per_s": round(self.mb_per_s, 2)}


def path_taken(chunks: dict[str, int]) -> str:
    used = [via for via in ("p2p", "s3") if chunks.get(via)]
    return "+".join(used) or "p2p"
