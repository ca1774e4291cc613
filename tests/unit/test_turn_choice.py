"""Which TURN URL aiortc gets, and when TURN credentials count as expired (ice.py)."""

from __future__ import annotations

import asyncio
import socket

from transfer_core.webrtc.ice import IceSettings, reachable_turn_first, udp_answers


class _StunAnswerer(asyncio.DatagramProtocol):
    """Answers any datagram with a Binding success carrying the same transaction id."""

    def connection_made(self, transport):
        self.transport = transport

    def datagram_received(self, data, addr):
        self.transport.sendto(b"\x01\x01\x00\x00" + data[4:20], addr)


def _silent_port() -> tuple[socket.socket, int]:
    """A bound UDP socket that never answers (what a firewall that drops UDP looks like)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    return sock, sock.getsockname()[1]


def _servers(udp_port: int, tcp_port: int = 5349) -> list[dict]:
    return [{"urls": [f"turn:127.0.0.1:{udp_port}?transport=udp",
                      f"turns:127.0.0.1:{tcp_port}?transport=tcp"],
             "username": "1700000000:abc", "credential": "x"}]


async def test_turn_over_udp_stays_first_when_it_answers():
    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_datagram_endpoint(_StunAnswerer,
                                                       local_addr=("127.0.0.1", 0))
    try:
        port = transport.get_extra_info("sockname")[1]
        assert await udp_answers("127.0.0.1", port)
        chosen = await reachable_turn_first(IceSettings(servers=_servers(port)))
        assert chosen.servers[0]["urls"][0].startswith("turn:127.0.0.1")
        assert chosen.servers[0]["username"] == "1700000000:abc"
    finally:
        transport.close()


async def test_tls_goes_first_when_turn_over_udp_is_silent_and_tcp_answers():
    sock, port = _silent_port()
    server = await asyncio.start_server(lambda r, w: w.close(), "127.0.0.1", 0)
    tcp_port = server.sockets[0].getsockname()[1]
    try:
        assert not await udp_answers("127.0.0.1", port, timeout=0.3)
        chosen = await reachable_turn_first(IceSettings(servers=_servers(port, tcp_port)))
        assert chosen.servers[0]["urls"] == [f"turns:127.0.0.1:{tcp_port}?transport=tcp",
                                             f"turn:127.0.0.1:{port}?transport=udp"]
    finally:
        server.close()
        sock.close()


async def test_the_order_stays_when_neither_answers():
    """A firewall that drops everything: TURN over TCP would hang aiortc's gathering."""
    sock, port = _silent_port()
    closed, tcp_port = _silent_port()  # a UDP socket's number: nothing listens on TCP
    try:
        chosen = await reachable_turn_first(IceSettings(servers=_servers(port, tcp_port)))
        assert chosen.servers[0]["urls"][0] == f"turn:127.0.0.1:{port}?transport=udp"
    finally:
        closed.close()
        sock.close()


async def test_a_single_turn_url_is_not_probed():
    sock, port = _silent_port()
    try:
        one = [{"urls": f"turn:127.0.0.1:{port}", "username": "u", "credential": "c"}]
        chosen = await reachable_turn_first(IceSettings(servers=one))
        assert chosen.servers[0]["urls"] == [f"turn:127.0.0.1:{port}"]
    finally:
        sock.close()


def test_turn_expiry_is_read_from_the_rest_username():
    settings = IceSettings(servers=[{"urls": ["stun:198.51.100.1:3478"]},
                                    *_servers(3478)])
    assert settings.turn_expires_at == 1700000000
    assert settings.turn_expired(now=1700000001)
    assert not settings.turn_expired(now=1699999000)
    assert settings.turn_expired(now=1699999990, margin=30)
    # no TURN, or a username of another form: nothing to renew
    assert IceSettings(servers=[{"urls": ["stun:198.51.100.1:3478"]}]).turn_expires_at is None
    other = [{"urls": ["turn:198.51.100.1:3478"], "username": "alice", "credential": "c"}]
    assert not IceSettings(servers=other).turn_expired(now=2e9)
