"""The coturn configuration production runs (infra/turnserver_conf.py), on a real coturn.

The local coturn (devstack/turn.py) renders the same file; these tests start it
with production's peer rules (no loopback exception) and with production's TLS
listener, and check with a real TURN client (aioice) that coturn refuses to relay
to private, loopback and link-local peers, and relays to an allowed one.
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import hashlib
import hmac
import socket
import ssl
import time
from pathlib import Path

import pytest
from aioice.turn import TurnTransport, create_turn_endpoint
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from devstack.turn import Coturn
from infra.turnserver_conf import (
    DEFAULT_MAX_BPS,
    DENIED_PEER_NETWORKS,
    TurnServerConfig,
    denied_peer_ranges,
    render_turnserver_conf,
)

pytestmark = pytest.mark.timeout(120)


def rest_credentials(secret: str) -> tuple[str, str]:
    """TURN REST API credentials, as the relay issues them."""
    username = f"{int(time.time()) + 600}:test"
    password = base64.b64encode(hmac.new(secret.encode(), username.encode(),
                                         hashlib.sha1).digest()).decode()
    return username, password


class Recorder(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.errors: asyncio.Queue[Exception] = asyncio.Queue()

    def error_received(self, exc: Exception) -> None:
        self.errors.put_nowait(exc)


class Echo(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.got: asyncio.Queue[bytes] = asyncio.Queue()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.got.put_nowait(data)


async def relay_to(turn: Coturn, peer: tuple[str, int]) -> tuple[Recorder, TurnTransport]:
    username, password = rest_credentials(turn.secret)
    transport, recorder = await create_turn_endpoint(
        Recorder, ("127.0.0.1", turn.port), username, password)
    transport.sendto(b"through the relay", peer)
    return recorder, transport


def test_the_rendering_denies_every_special_range_and_sets_quotas() -> None:
    text = render_turnserver_conf(TurnServerConfig(static_auth_secret="s"))
    denied = [line.split("=", 1)[1] for line in text.splitlines()
              if line.startswith("denied-peer-ip=")]
    assert denied == denied_peer_ranges()
    for needed in ("10.0.0.0-10.255.255.255", "127.0.0.0-127.255.255.255",
                   "169.254.0.0-169.254.255.255", "172.16.0.0-172.31.255.255",
                   "192.168.0.0-192.168.255.255", "100.64.0.0-100.127.255.255",
                   "fe80::-febf:ffff:ffff:ffff:ffff:ffff:ffff:ffff"):
        assert needed in denied
    assert "allow-loopback-peers" not in text
    for line in ("use-auth-secret", "user-quota=12", "total-quota=1200", "no-multicast-peers",
                 f"max-bps={DEFAULT_MAX_BPS}"):
        assert line in text.splitlines()
    local = render_turnserver_conf(
        TurnServerConfig(static_auth_secret="s").local(port=1, secret="t", workdir="/w"))
    # the local file differs only in addresses, ports, TLS, paths and the loopback exception
    assert "allow-loopback-peers" in local
    assert "127.0.0.0-127.255.255.255" not in local and "10.0.0.0-10.255.255.255" in local
    assert len(DENIED_PEER_NETWORKS) - 2 == sum(
        line.startswith("denied-peer-ip=") for line in local.splitlines())


async def test_production_rules_refuse_private_and_loopback_peers() -> None:
    loop = asyncio.get_running_loop()
    echo_transport, echo = await loop.create_datagram_endpoint(
        Echo, local_addr=("127.0.0.1", 0))
    echo_port = echo_transport.get_extra_info("sockname")[1]
    with Coturn.start(loopback_peers=False) as turn:
        assert "allow-loopback-peers" not in turn.config
        for peer in (("127.0.0.1", echo_port), ("10.1.2.3", 9), ("169.254.169.254", 80),
                     ("192.168.1.1", 9)):
            recorder, transport = await relay_to(turn, peer)
            error = await asyncio.wait_for(recorder.errors.get(), 30)
            assert "403" in str(error), (peer, error)
            transport.close()
        assert echo.got.empty()
    echo_transport.close()


async def test_the_local_exception_relays_to_loopback_only() -> None:
    loop = asyncio.get_running_loop()
    echo_transport, echo = await loop.create_datagram_endpoint(
        Echo, local_addr=("127.0.0.1", 0))
    echo_port = echo_transport.get_extra_info("sockname")[1]
    with Coturn.start() as turn:
        recorder, transport = await relay_to(turn, ("127.0.0.1", echo_port))
        assert await asyncio.wait_for(echo.got.get(), 30) == b"through the relay"
        transport.close()
        recorder, transport = await relay_to(turn, ("10.1.2.3", 9))  # still denied
        assert "403" in str(await asyncio.wait_for(recorder.errors.get(), 30))
        transport.close()
    echo_transport.close()


def self_signed(tmp_path: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "turn.test")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1)).sign(key, hashes.SHA256()))
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_file, key_file


def test_production_tls_listener_speaks_tls_1_2_or_later(tmp_path: Path) -> None:
    with Coturn.start(tls=self_signed(tmp_path)) as turn:
        assert turn.tls_port is not None and "no-tlsv1_1" in turn.config
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        deadline = time.monotonic() + 20
        while True:
            try:
                with socket.create_connection(("127.0.0.1", turn.tls_port), timeout=5) as raw, \
                        context.wrap_socket(raw) as tls:
                    assert tls.version() in {"TLSv1.2", "TLSv1.3"}
                    break
            except (ConnectionRefusedError, ssl.SSLError):
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)


async def relayed_burst(turn: Coturn, datagrams: int, size: int) -> int:
    """Send `datagrams` of `size` bytes through `turn` to a local peer at about 1 MB/s
    (400 KB in under half a second); how many arrive."""
    loop = asyncio.get_running_loop()
    echo_transport, echo = await loop.create_datagram_endpoint(
        Echo, local_addr=("127.0.0.1", 0))
    sock = echo_transport.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)  # no kernel drop here
    peer = ("127.0.0.1", echo_transport.get_extra_info("sockname")[1])
    recorder, transport = await relay_to(turn, peer)  # sends one greeting first
    assert await asyncio.wait_for(echo.got.get(), 30) == b"through the relay"
    payload = bytes(size)
    for sent in range(datagrams):
        transport.sendto(payload, peer)
        if sent % 5 == 4:
            # paced: coturn's per-session sockets hold 64 KiB (about 55 such datagrams,
            # 50 ms of this burst), so a busy machine's scheduling drops nothing there
            await asyncio.sleep(0.005)
    await asyncio.sleep(1.5)
    transport.close()
    echo_transport.close()
    return echo.got.qsize()


async def test_coturns_cap_drops_past_its_budget_so_production_sits_above_a_transfer() -> None:
    """coturn's `max-bps` is not a shaper: past a session's bytes in one calendar second
    it drops every datagram until the second ends. Production's cap (DEFAULT_MAX_BPS)
    passes a burst whole; a cap below the burst's rate passes at most two seconds'
    budget of it (the burst, under a second long, may straddle one second's end)."""
    datagrams, size, cap = 400, 1000, 100_000
    with Coturn.start() as production:
        assert f"max-bps={DEFAULT_MAX_BPS}" in production.config.splitlines()
        assert await relayed_burst(production, datagrams, size) == datagrams
    with Coturn.start(extra=(f"max-bps={cap}",)) as capped:
        arrived = await relayed_burst(capped, datagrams, size)
    assert 0 < arrived <= 2 * cap // size
