"""The WebRTC layer's errors, each a subclass of the library's root error."""

from __future__ import annotations

from ..errors import SGraphSendError


class WebRTCError(SGraphSendError):
    """Something in the peer-to-peer channel layer failed."""


class IceConfigError(WebRTCError):
    """The ICE settings cannot be used (a bad server URL, or a non-loopback server
    while local-only mode is on)."""


class SdpError(WebRTCError):
    """A session description lacks something the channel needs (a fingerprint, a
    data-channel section) or cannot be read."""


class ChannelSetupError(WebRTCError):
    """The peer connection failed before the data channel opened (ICE or DTLS
    failed, or the peer went away during setup)."""


class ChannelSetupTimeout(ChannelSetupError):
    """No data channel opened within the setup timeout: the peer is offline or no
    direct path was found. Fall back to the relay path."""


class ChannelClosedError(WebRTCError):
    """The data channel or its peer connection closed or failed; no more messages
    will be sent or received on it."""


class MessageTooLargeError(WebRTCError):
    """A message is larger than the remote side's negotiated maximum message size."""
