"""Which path a transfer takes between real-looking networks, CLI to CLI.

One lab for the module: LAN 1 (two hosts) and LAN 2 behind endpoint-independent NAT,
LANs 3 and 4 behind symmetric NAT (random port per destination), LAN 5 whose router
drops UDP and LAN 6 whose router lets out only the signalling and storage TCP ports.
The stack and coturn (STUN + TURN over UDP) run on the internet bridge. Each test
asserts the selected candidate pair's types, so a transfer that silently took another
path fails.
"""

from __future__ import annotations

import os

import pytest

from .conftest import build_lab
from .parties import internet, lab_transfer

pytestmark = pytest.mark.lab


@pytest.fixture(scope="module")
def lab():
    yield from build_lab(("eim", 2), ("eim", 1), ("symmetric", 1), ("symmetric", 1),
                         ("eim", 1), ("eim", 1))


@pytest.fixture(scope="module")
def net(lab, tmp_path_factory):
    with internet(lab, tmp_path_factory.mktemp("inet")) as running:
        yield running


def route(run) -> tuple[str, str]:
    local, remote = run.event("summary")["route"].split("/")
    return local, remote


async def check_transfer(lab, net, tmp_path, sender_ns, receiver_ns, size=3 << 20,
                         send_args=(), receive_args=()):
    data = os.urandom(size)
    (tmp_path / "report.pdf").write_bytes(data)
    sent, received = await lab_transfer(lab, net, sender_ns, receiver_ns,
                                        tmp_path / "report.pdf", tmp_path / "out",
                                        send_args, receive_args)
    assert sent.code == 0, sent.stderr[-3000:]
    assert received.code == 0, received.stderr[-3000:]
    assert (tmp_path / "out" / "report.pdf").read_bytes() == data
    return sent, received


async def test_same_lan_pairs_host_to_host(lab, net, tmp_path):
    lan = lab.lans[0]
    sent, received = await check_transfer(lab, net, tmp_path, lan.hosts[0], lan.hosts[1])
    assert route(sent) == ("host", "host") and route(received) == ("host", "host")
    assert received.event("summary")["path"] == "p2p"


async def test_endpoint_independent_nat_pairs_directly_via_stun(lab, net, tmp_path):
    before = lab.counter(lab.lans[2 - 1].router, "from_peers")
    sent, received = await check_transfer(lab, net, tmp_path, lab.lans[0].hosts[0],
                                          lab.lans[1].hosts[0])
    for run in (sent, received):
        local, remote = route(run)
        # direct: our host socket to the other side's NAT mapping, learnt from STUN
        # (server-reflexive) or from its first check (peer-reflexive)
        assert local == "host" and remote in ("srflx", "prflx"), run.event("summary")
    # the packets came straight from the other router, not through coturn
    assert lab.counter(lab.lans[1].router, "from_peers") > before


async def test_symmetric_nat_both_sides_relays_through_turn(lab, net, tmp_path):
    sent, received = await check_transfer(lab, net, tmp_path, lab.lans[2].hosts[0],
                                          lab.lans[3].hosts[0])
    for run in (sent, received):
        assert "relay" in route(run), run.event("summary")
        assert run.event("summary")["path"] == "p2p"
