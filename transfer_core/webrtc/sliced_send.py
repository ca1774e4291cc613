"""Send a message in pieces: a small adapter over aiortc's data-channel send.

aiortc's `RTCDataChannel.send` takes `bytes` or `str` only, so a sealed record (a
32-byte header and its ciphertext, apart) would have to be joined first: one copy of
every byte. Behind that type check aiortc needs of a binary message only `len()` and
slices: `RTCSctpTransport._send` cuts `user_data[pos : pos + USERDATA_MAX_LENGTH]`
per SCTP chunk, which copies each packet's bytes out of the message anyway. A message
that answers `len()` and slices with `bytes` (`SealedRecord`) can therefore go in as
it is, and its bytes are copied once, packet by packet.

`send_sliced` does what `RTCDataChannel.send` does for bytes (the state check, then
`transport._data_channel_send`) for such a message. On another aiortc than the pinned
release it joins the message and calls `send`: correct everywhere, one copy more.
tests/unit/test_sliced_send.py pins the aiortc source this relies on.
"""

from __future__ import annotations

from typing import Protocol

import aiortc
from aiortc import RTCDataChannel
from aiortc.exceptions import InvalidStateError

PINNED_AIORTC = "1.16.0"
"""The aiortc release whose send path this adapter was checked against."""


class Sliced(Protocol):
    """A binary message in pieces: its length, and any contiguous span as `bytes`."""

    def __len__(self) -> int: ...

    def __getitem__(self, span: slice, /) -> bytes: ...


def supported() -> bool:
    """Whether the installed aiortc is the one this adapter was checked against."""
    return aiortc.__version__ == PINNED_AIORTC


_SUPPORTED = supported()


def send_sliced(channel: RTCDataChannel, message: Sliced) -> None:
    """Queue `message` on `channel` as one binary message, without joining it first.

    Raises what `RTCDataChannel.send` raises: `InvalidStateError` unless the channel is
    open, `ValueError` for a message over the peer's `a=max-message-size`.
    """
    if not _SUPPORTED:
        channel.send(message[0:len(message)])
        return
    if channel.readyState != "open":
        raise InvalidStateError
    # aiortc's own send after its type check: binary (a non-empty, non-str message)
    channel.transport._data_channel_send(channel, message)  # type: ignore[arg-type]
