"""Which path a transfer takes between real-looking networks, CLI to CLI.

The session's shared lab (conftest): LAN 1 (two hosts) and LAN 2 behind endpoint-independent NAT,
LANs 3 and 4 behind symmetric NAT (random port per destination), LAN 5 whose router
drops UDP and LAN 6 whose router lets out only the signalling and storage TCP ports.
The stack and coturn (STUN + TURN over UDP) run on the internet bridge. Each test
asserts the selected candidate pair's types, so a transfer that silently took another
path fails.
"""

from __future__ import annotations

import base64
import os
from urllib.parse import urlsplit

import pytest

from .parties import lab_transfer

pytestmark = pytest.mark.lab


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
    # the LAN's links are 1,500-byte Ethernet: the 16,000 and 8,800-byte probes (sent
    # with don't-fragment) cannot pass, the 1,400-byte one does (sctp_pmtu.py)
    assert sent.event("summary")["packet_size"] == 1_400, sent.event("summary")


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
    # through TURN the sender probes 1,400 bytes at most (sctp_pmtu.py), and it passes
    assert sent.event("summary")["packet_size"] == 1_400, sent.event("summary")


async def test_everything_but_signalling_blocked_falls_back_to_storage(lab, net, tmp_path):
    blocked = lab.lans[5]
    ws_port = urlsplit(net.url).port
    s3_port = urlsplit(net.info["aws_endpoint_url"]).port
    lab.firewall(blocked, "all", allow_tcp=(ws_port, s3_port))
    short = ("--connect-timeout", "5", "--reconnect-grace", "5")
    try:
        # --p2p-timeout leaves a busy machine time to start the receiver and let ICE
        # try (and be dropped) at least once before the sender turns to storage
        sent, received = await check_transfer(
            lab, net, tmp_path, blocked.hosts[0], lab.lans[1].hosts[0], size=1 << 20,
            send_args=("--p2p-timeout", "20", *short), receive_args=short,
        )
        dropped = lab.counter(blocked.router, "blocked")
    finally:
        lab.firewall(blocked, "none")
    # no channel ever opened: the whole file went through storage, within --p2p-timeout
    assert sent.event("summary")["path"] == "s3" and sent.event("summary")["route"] is None
    assert received.event("summary")["path"] == "s3"
    assert received.event("summary")["chunks"]["p2p"] == 0
    assert dropped > 0, "ICE never even tried"


def frames_text(net) -> str:
    """Every relayed frame, decoded (payloads are base64 JSON text)."""
    return "\n".join(base64.b64decode(f["data"]).decode(errors="replace")
                     for f in net.relayed())


async def test_relay_only_never_reveals_an_address(lab, net, tmp_path):
    a, b = lab.lans[0], lab.lans[1]
    seen_a, seen_b = lab.counter(a.router, "from_peers"), lab.counter(b.router, "from_peers")
    sent, received = await check_transfer(lab, net, tmp_path, a.hosts[1], b.hosts[0],
                                          send_args=("--relay-only",),
                                          receive_args=("--relay-only",))
    for run in (sent, received):
        assert route(run) == ("relay", "relay"), run.event("summary")
    text = frames_text(net)
    room_frames = [line for line in text.splitlines() if "a=candidate" in line]
    assert room_frames, "no SDP crossed the relay: the check below would prove nothing"
    # no host or server-reflexive candidate was ever signalled, and no private or
    # router address appears anywhere in what the relay carried for this transfer
    offer = [line for line in room_frames if "typ relay" in line]
    assert offer and all("typ host" not in line and "typ srflx" not in line
                         for line in offer[-2:])
    for address in (a.host_address(1), b.host_address(0), a.wan_address, b.wan_address):
        assert address not in "\n".join(offer[-2:]), address
    # and the packets each side's sockets received came from the TURN server only
    assert lab.counter(a.router, "from_peers") == seen_a
    assert lab.counter(b.router, "from_peers") == seen_b
