"""The cut-off line between the channel layer and signalling."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Literal, Protocol

DescriptionKind = Literal["offer", "answer"]


class SdpExchange(Protocol):
    """How two peers swap session descriptions and trickled candidates.

    The channel layer knows nothing of the relay, rooms or signatures: it hands its
    local SDP to `send_description` and takes the peer's from `receive_description`.
    The implementation (the signalling client, over the WebSocket relay) signs what
    it sends and verifies what it returns: `receive_description` must return only an
    SDP whose signature checked out and whose DTLS fingerprint is the signed one, and
    raise (a `SGraphSendError` subclass) otherwise. aiortc then verifies the peer's
    DTLS certificate against that fingerprint, which closes the man-in-the-middle.

    aiortc puts all of its candidates into its SDP (no trickle out), so there is no
    `send_candidate`. Browsers trickle theirs: `remote_candidates` yields each verified
    `candidate:...` line as it arrives and `None` once the peer signals the end of
    candidates. The channel applies them (filtered in local-only mode) while it
    connects and stops iterating when the channel opens or setup fails. An error
    raised by the iteration while the channel is being set up (an injected candidate
    whose signature fails, say) fails the setup with that same error.

    `kind` is `"offer"` (the sender's description) or `"answer"` (the receiver's).
    """

    async def send_description(self, sdp: str, kind: str) -> None:
        """Send the local SDP of the given kind to the peer."""
        ...

    async def receive_description(self, kind: str) -> str:
        """Wait for the peer's verified SDP of the given kind."""
        ...

    def remote_candidates(self) -> AsyncIterator[str | None]:
        """The peer's trickled candidate lines; `None` marks the end of candidates."""
        ...
