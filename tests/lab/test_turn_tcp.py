"""UDP dropped by a router: the transfer relays through TURN over TCP.

The relay offers TURN over TCP only (aiortc uses the first TURN URL it is given). LAN 1's
router drops every UDP packet (no host, no server-reflexive path can work), LAN 2 is
behind symmetric NAT. CLI to CLI, the blocked side's selected candidate is relayed.
"""

from __future__ import annotations

import pytest

from .conftest import build_lab
from .parties import internet
from .test_paths import check_transfer, route

pytestmark = pytest.mark.lab


@pytest.fixture(scope="module")
def lab():
    yield from build_lab(("eim", 1), ("symmetric", 1))


@pytest.fixture(scope="module")
def net(lab, tmp_path_factory):
    with internet(lab, tmp_path_factory.mktemp("inet"), "--turn", "tcp") as running:
        assert running.info["turn_url"].endswith("?transport=tcp")
        yield running


async def test_udp_blocked_relays_over_turn_tcp(lab, net, tmp_path):
    blocked = lab.lans[0]
    lab.firewall(blocked, "udp")
    try:
        sent, received = await check_transfer(lab, net, tmp_path, blocked.hosts[0],
                                              lab.lans[1].hosts[0])
        dropped = lab.counter(blocked.router, "blocked")
    finally:
        lab.firewall(blocked, "none")
    assert route(sent)[0] == "relay", sent.event("summary")  # the UDP-less side relays
    assert "relay" in route(received), received.event("summary")
    assert sent.event("summary")["path"] == "p2p"
    assert dropped > 0, "no UDP was ever tried and dropped: the check proves nothing"
