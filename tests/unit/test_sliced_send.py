"""`transfer_core.webrtc.sliced_send`: a message in pieces goes into aiortc's send path
as it is. The pin tests fail loudly when the aiortc code it relies on changes; that a
sealed record crosses a real channel intact is tested in
tests/integration/test_webrtc_channel.py."""

from __future__ import annotations

import inspect

import aiortc
import pytest
from aiortc import RTCDataChannel, RTCPeerConnection
from aiortc.exceptions import InvalidStateError
from aiortc.rtcsctptransport import RTCSctpTransport

from tests.unit.pins import changed
from transfer_core.protocol.record import SealedRecord
from transfer_core.webrtc.sliced_send import PINNED_AIORTC, send_sliced

# sha256 (first 16 hex digits) of `inspect.getsource` of each aiortc method on the path
# of a sliced message: the type check it passes by, and the code that only takes len()
# and slices of it
PINNED_SOURCES = {
    "RTCDataChannel": {"send": "5deb1293f33708fb"},
    "RTCSctpTransport": {
        "_data_channel_send": "bff23b8d60ecb624",
        "_data_channel_flush": "d5f055f33db1abff",
        "_send": "f0f8aff63a9a8743",
    },
}


def test_aiortc_is_the_pinned_release() -> None:
    assert aiortc.__version__ == PINNED_AIORTC, (
        f"aiortc {aiortc.__version__} is not {PINNED_AIORTC}: review"
        " transfer_core/webrtc/sliced_send.py against its send path, then update the pins"
    )


def test_aiortc_send_path_is_unchanged() -> None:
    found = [f"{owner.__name__}.{name}" for owner in (RTCDataChannel, RTCSctpTransport)
             for name in changed(owner, PINNED_SOURCES[owner.__name__])]
    assert not found, f"aiortc changed {found}: review sliced_send.py against them"


def test_the_send_path_takes_only_length_and_slices_of_a_message() -> None:
    send = inspect.getsource(RTCSctpTransport._send)
    uses = [line.strip() for line in send.splitlines()
            if "user_data" in line and "user_data:" not in line]
    assert uses == ["fragments = math.ceil(len(user_data) / USERDATA_MAX_LENGTH)",
                    "chunk.user_data = user_data[pos : pos + USERDATA_MAX_LENGTH]",
                    "chunk._book_size = len(chunk.user_data)"]


async def test_a_channel_not_open_refuses_as_aiortc_does() -> None:
    pc = RTCPeerConnection()
    try:
        channel = pc.createDataChannel("sliced")
        assert channel.readyState == "connecting"
        with pytest.raises(InvalidStateError):
            send_sliced(channel, SealedRecord(bytes(32), b"body"))
    finally:
        await pc.close()
