"""The WebRTC channel layer: ICE settings, one reliable data channel, its setup.

Signalling is not here: setup talks to an `SdpExchange`, which the signalling
client implements (signed messages over the WebSocket relay).
"""

from .channel import (
    DEFAULT_LABEL,
    PREFERRED_RECORD_SIZE,
    DataPipe,
    PipeCounters,
    PipeOptions,
    SetupTiming,
    negotiated_max_message_size,
    open_as_answerer,
    open_as_offerer,
    record_size_for,
)
from .errors import (
    ChannelClosedError,
    ChannelSetupError,
    ChannelSetupTimeout,
    IceConfigError,
    MessageTooLargeError,
    SdpError,
    WebRTCError,
)
from .exchange import SdpExchange
from .ice import LOOPBACK, IceSettings, install_loopback_gathering, loopback_gathering
from .sctp_ack import DEFAULT_ACK_POLICY, AckPolicy, install_delayed_ack
from .sdp import DtlsFingerprint, candidate_address, candidate_lines, dtls_fingerprints

__all__ = [
    "DEFAULT_ACK_POLICY",
    "DEFAULT_LABEL",
    "LOOPBACK",
    "PREFERRED_RECORD_SIZE",
    "AckPolicy",
    "ChannelClosedError",
    "ChannelSetupError",
    "ChannelSetupTimeout",
    "DataPipe",
    "DtlsFingerprint",
    "IceConfigError",
    "IceSettings",
    "MessageTooLargeError",
    "PipeCounters",
    "PipeOptions",
    "SdpError",
    "SdpExchange",
    "SetupTiming",
    "WebRTCError",
    "candidate_address",
    "candidate_lines",
    "dtls_fingerprints",
    "install_delayed_ack",
    "install_loopback_gathering",
    "loopback_gathering",
    "negotiated_max_message_size",
    "open_as_answerer",
    "open_as_offerer",
    "record_size_for",
]
