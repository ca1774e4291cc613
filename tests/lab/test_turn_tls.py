"""UDP dropped by a router: the transfer relays through TURN over TLS (`turns:`, TCP).

The relay offers what production offers: TURN over UDP first, then over TLS, with a
certificate for the lab's internet address signed by a CA the test makes and the
peers trust (`SSL_CERT_FILE`). aiortc uses only the first TURN URL it is given, so
the client first asks the TURN server over UDP and, without an answer, puts `turns:`
first (`transfer_core.webrtc.ice.reachable_turn_first`). LAN 5's router drops every
UDP packet (no host, no server-reflexive path can work), LAN 4 is behind symmetric
NAT. CLI to CLI; the blocked side's selected candidate is relayed.
"""

from __future__ import annotations

import pytest

from .test_paths import check_transfer, route

pytestmark = pytest.mark.lab


async def test_udp_blocked_relays_over_turn_tls(lab, net, tls_files, tmp_path, monkeypatch):
    assert net.info["turn_url"].split(",")[1].startswith("turns:"), net.info["turn_url"]
    monkeypatch.setenv("SSL_CERT_FILE", str(tls_files[0]))  # the peers trust the lab's CA
    blocked = lab.lans[4]
    lab.firewall(blocked, "udp")
    try:
        sent, received = await check_transfer(lab, net, tmp_path, blocked.hosts[0],
                                              lab.lans[3].hosts[0])
        dropped = lab.counter(blocked.router, "blocked")
    finally:
        lab.firewall(blocked, "none")
    assert route(sent)[0] == "relay", sent.event("summary")  # the UDP-less side relays
    assert "relay" in route(received), received.event("summary")
    assert sent.event("summary")["path"] == "p2p"
    assert dropped > 0, "no UDP was ever tried and dropped: the check proves nothing"
