"""Path-MTU discovery between real aiortc peers (two processes, loopback): our peers
find that the loopback path carries 16,000-byte SCTP packets and use them, also over a
path that drops, duplicates and reorders packets (`webrtc_peer.LossyLink`), and a plain
aiortc peer, which reads DTLS records 1,500 bytes at a time and says nothing in its SDP,
gets no probe larger than 1,400 bytes and every byte."""

from __future__ import annotations

from typing import Any

import pytest

from tests.integration import webrtc_peer
from tests.integration.test_webrtc_channel import run_peers
from transfer_core.webrtc.sctp_pmtu import ANY_PEER_READS, PROBE_PACKETS, READS_WHOLE
from transfer_core.webrtc.sdp import max_packet


@pytest.fixture(scope="module")
def lossy_large() -> dict[str, dict[str, Any]]:
    return run_peers("lossy-large")


@pytest.fixture(scope="module")
def unadapted() -> dict[str, dict[str, Any]]:
    return run_peers("unadapted")


def test_our_peers_use_the_largest_packet_the_path_carries(
    lossy_large: dict[str, dict[str, Any]]
) -> None:
    offerer, answerer = lossy_large["offerer"], lossy_large["answerer"]
    # Each said in its SDP that it reads 16 KiB packets (aiortc's re-serialized
    # `remoteDescription` drops the line; without it only 1,400 bytes would be probed).
    for report in (offerer, answerer):
        assert report["path_mtu"]["packet_size"] == max(PROBE_PACKETS)


def test_large_packets_over_a_lossy_reordering_path_deliver_every_byte_in_order(
    lossy_large: dict[str, dict[str, Any]]
) -> None:
    offerer, answerer = lossy_large["offerer"], lossy_large["answerer"]
    assert answerer["indices"] == list(range(webrtc_peer.LARGE_LOSSY_MESSAGES))
    assert answerer["received_digest"] == offerer["sent_digest"]
    assert answerer["bytes_received"] == offerer["bytes_sent"] > 3_000_000
    link = offerer["link"]
    # about 4 MB in 16,000-byte packets, not 3,500 packets of 1,189 bytes
    assert 200 < link["data"] < 1000
    assert link["dropped"] >= 3 and link["reordered"] >= 3 and link["duplicated"] >= 3
    assert answerer["asyncio_errors"] == offerer["asyncio_errors"] == []


def test_a_plain_aiortc_peer_gets_only_packets_it_reads_whole(
    unadapted: dict[str, dict[str, Any]]
) -> None:
    offerer, answerer = unadapted["offerer"], unadapted["answerer"]
    assert max_packet(answerer["remote_sdp"]) == READS_WHOLE  # the offer as it arrived
    assert answerer["indices"] == list(range(webrtc_peer.MESSAGES))
    assert answerer["received_digest"] == offerer["sent_digest"]
    assert offerer["ack"] == "ack"
    # only the probe any WebRTC peer reads went out, and the peer answered it
    sizes = [s for s in PROBE_PACKETS if s <= ANY_PEER_READS]
    assert offerer["path_mtu"] == {"packet_size": max(sizes), "probes_sent": len(sizes)}
