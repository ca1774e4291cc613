"""Delayed SACK between real aiortc peers (two processes, loopback) over a path that
drops, duplicates and reorders SCTP packets on purpose (`webrtc_peer.LossyLink`):
the transfer still completes byte-identical, in order, and the receiver's policy waited
(delayed SACKs), acknowledged each packet after a loss (`after_loss`), and reported the
gaps and duplicates the faults made."""

from __future__ import annotations

from typing import Any

import pytest

from tests.integration import webrtc_peer
from tests.integration.test_webrtc_channel import run_peers


@pytest.fixture(scope="module")
def lossy() -> dict[str, dict[str, Any]]:
    return run_peers("lossy")


def test_a_lossy_reordering_path_still_delivers_every_byte_in_order(
    lossy: dict[str, dict[str, Any]]
) -> None:
    offerer, answerer = lossy["offerer"], lossy["answerer"]
    assert answerer["indices"] == list(range(webrtc_peer.LOSSY_MESSAGES))
    assert answerer["received_digest"] == offerer["sent_digest"]
    assert answerer["bytes_received"] == offerer["bytes_sent"] > 1_000_000
    assert offerer["ack"] == "ack"


def test_the_faults_happened(lossy: dict[str, dict[str, Any]]) -> None:
    sent, back = lossy["offerer"]["link"], lossy["answerer"]["link"]
    assert sent["data"] > 1000
    assert sent["dropped"] > 10 and sent["reordered"] > 10 and sent["duplicated"] > 10
    assert back["sacks_dropped"] > 10


def test_the_sender_s_window_control_ran_and_a_loss_ended_its_slow_start(
    lossy: dict[str, dict[str, Any]]
) -> None:
    """sctp_delay was installed on the sender, measured the path's round trip, and
    left HyStart++ for aiortc's own loss response once the link dropped a packet."""
    control = lossy["offerer"]["delay_control"]
    assert control is not None and control["phase"] == "done"
    assert 0 < control["base_rtt"] < 1


def test_the_receiver_delayed_sacks_and_reported_every_kind_of_fault(
    lossy: dict[str, dict[str, Any]]
) -> None:
    answerer = lossy["answerer"]
    ack, link = answerer["ack"], answerer["link"]
    assert ack is not None and ack["every"] == 2
    assert ack["at_start"] > 0  # the start's SACKs, each at once...
    assert ack["delayed"] > 20  # ...then the policy waited (while datagrams queued)...
    assert ack["after_loss"] > 50  # ...acknowledged each packet after a loss...
    assert ack["unknown"] == 0  # ...and could always tell whether a datagram waited
    # ...and every SACK went through it (the link was put in after the channel opened:
    # the DCEP OPEN's SACK went out before it)
    assert 0 <= ack["sent"] - link["sacks"] <= 2
    assert link["sacks"] < lossy["offerer"]["link"]["data"]  # fewer SACKs than DATA
    assert link["sacks_with_gaps"] > 0 and link["sacks_with_duplicates"] > 0


def test_no_asyncio_errors_in_lossy_peers(lossy: dict[str, dict[str, Any]]) -> None:
    for report in lossy.values():
        assert report["asyncio_errors"] == []
