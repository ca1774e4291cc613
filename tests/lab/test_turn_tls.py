"""UDP dropped by a router: the transfer relays through TURN over TLS (`turns:`, TCP).

The relay offers TURN over TLS only (aiortc uses the first TURN URL it is given),
with a certificate for the lab's internet address signed by a CA the test makes and
the peers trust (`SSL_CERT_FILE`). LAN 1's router drops every UDP packet (no host,
no server-reflexive path can work), LAN 2 is behind symmetric NAT. CLI to CLI; the
blocked side's selected candidate is relayed.
"""

from __future__ import annotations

import pytest

from .certs import make_tls_files
from .conftest import build_lab
from .netlab import INTERNET_ADDRESS
from .parties import internet
from .test_paths import check_transfer, route

pytestmark = pytest.mark.lab


@pytest.fixture(scope="module")
def lab():
    yield from build_lab(("eim", 1), ("symmetric", 1))


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory):
    return make_tls_files(tmp_path_factory.mktemp("tls"), INTERNET_ADDRESS)


@pytest.fixture(scope="module")
def net(lab, tmp_path_factory, tls_files):
    _, cert, key = tls_files
    with internet(lab, tmp_path_factory.mktemp("inet"), "--turn", "tls", "--cert", str(cert),
                  "--key", str(key)) as running:
        assert running.info["turn_url"].startswith("turns:")
        yield running


async def test_udp_blocked_relays_over_turn_tls(lab, net, tls_files, tmp_path, monkeypatch):
    monkeypatch.setenv("SSL_CERT_FILE", str(tls_files[0]))  # the peers trust the lab's CA
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
