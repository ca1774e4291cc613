"""`turnserver.conf` for coturn, rendered in one place for production and the local stack.

Pure Python (no ``aws_cdk`` import): the coturn EC2 construct (`infra/coturn.py`)
puts the production rendering into the instance's user data, and
`devstack/turn.py` starts the local coturn from the same function, so the local
TURN tests run the production configuration with only addresses, ports, TLS and
the loopback exception changed (see `TurnServerConfig.local`).

A TURN server relays to any address its clients name unless told otherwise; every
private, loopback, link-local (the EC2 metadata service) and otherwise special
range is denied as a peer, so the server can never become a path into the
operator's network.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field, replace

__all__ = ["DEFAULT_MAX_BPS", "DENIED_PEER_NETWORKS", "TurnServerConfig", "denied_peer_ranges",
           "render_turnserver_conf"]

#: Peer addresses coturn must never relay to (IANA special-purpose registries).
DENIED_PEER_NETWORKS: tuple[str, ...] = (
    "0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16",
    "172.16.0.0/12", "192.0.0.0/24", "192.0.2.0/24", "192.88.99.0/24", "192.168.0.0/16",
    "198.18.0.0/15", "198.51.100.0/24", "203.0.113.0/24", "224.0.0.0/4", "240.0.0.0/4",
    "::1/128", "64:ff9b::/96", "100::/64", "2001::/23",
    "2001:db8::/32", "2002::/16", "fc00::/7", "fe80::/10", "ff00::/8",
)

#: coturn's per-session bandwidth cap (``max-bps``), bytes per second: 1 Gbit/s.
#: coturn does not shape to it: it counts each relay socket's bytes per calendar second
#: and drops every datagram past the budget until the second ends
#: (`ioa_socket_check_bandwidth`; 4.6.1, what Debian and Ubuntu 24.04 ship, and coturn's
#: master in 2026). A WebRTC transfer that reaches the cap loses the tail of its flight
#: every second and falls below it (its congestion control backs off on each loss): at
#: the former 100 Mbit/s, Chromium through a coturn on loopback ran at 9-10 MB/s of file
#: and never above 10.9 in any run (docs/benchmarks.md, session 15: "a relay that drops
#: at 100 Mbit/s"). So the cap sits above what one transfer reaches on the default
#: instance (a t4g.small, "up to 5 Gigabit" in bursts), bounding a runaway session
#: without slowing a real one; congestion control shares a busy link between transfers.
#: The `turnMaxBps` setting changes it.
DEFAULT_MAX_BPS = 125_000_000

#: The loopback networks, allowed as peers only by the local stack's coturn.
LOOPBACK_NETWORKS = frozenset({"127.0.0.0/8", "::1/128"})


def denied_peer_ranges(networks: tuple[str, ...] = DENIED_PEER_NETWORKS) -> list[str]:
    """coturn's ``first-last`` form of each network (it reads ranges on every version)."""
    ranges = []
    for cidr in networks:
        net = ipaddress.ip_network(cidr)
        ranges.append(f"{net[0]}-{net[-1]}" if net.num_addresses > 1 else f"{net[0]}")
    return ranges


@dataclass(frozen=True)
class TurnServerConfig:
    """Every setting of the rendered file; the defaults are production's."""

    static_auth_secret: str
    """TURN REST API shared secret (production: a placeholder the instance fills from SSM)."""
    realm: str = "sgraph-send"
    """Realm in the STUN/TURN messages."""
    listening_ips: tuple[str, ...] = ()
    """Addresses to listen on; empty: all."""
    relay_ip: str | None = None
    """Address relayed traffic leaves from; None: coturn chooses."""
    external_ip: str | None = None
    """``public`` or ``public/private``: the address behind 1:1 NAT (an EC2 Elastic IP)."""
    listening_port: int = 3478
    """STUN/TURN over UDP and TCP."""
    tls_listening_port: int = 5349
    """TURN over TLS (and DTLS)."""
    min_port: int = 49152
    """First relay port."""
    max_port: int = 65535
    """Last relay port."""
    cert_file: str | None = None
    """TLS certificate (PEM); None: no TLS listener."""
    pkey_file: str | None = None
    """TLS private key (PEM)."""
    allow_loopback_peers: bool = False
    """Relay to 127.0.0.1: the local stack only (its peers are all on loopback)."""
    user_quota: int = 12
    """Concurrent allocations per username (a WebRTC peer needs one or two)."""
    total_quota: int = 1200
    """Concurrent allocations on the server."""
    max_bps: int = DEFAULT_MAX_BPS
    """Bytes per second per session (``DEFAULT_MAX_BPS``: why it is that high)."""
    max_allocate_lifetime: int = 3600
    """Longest allocation lifetime a client may ask for, seconds."""
    log_file: str = "syslog"
    """Where coturn logs (``syslog`` or a path)."""
    extra_lines: tuple[str, ...] = field(default=())
    """Paths of a local run (pidfile, userdb); nothing that changes behaviour."""
    allowed_peer_networks: tuple[str, ...] = ()
    """Denied networks let through all the same: the network lab's documentation ranges,
    which stand in for the public internet there (tests/lab)."""

    @property
    def tls(self) -> bool:
        """Whether the TLS listener is on."""
        return self.cert_file is not None

    def local(self, *, port: int, secret: str, workdir: str, min_port: int = 40000,
              max_port: int = 49999, host: str = "127.0.0.1",
              allowed_peer_networks: tuple[str, ...] = ()) -> TurnServerConfig:
        """The same configuration on `host` (127.0.0.1, or a network lab's address).

        Changed: addresses and ports, no TLS (no certificate), loopback peers allowed
        on loopback (and removed from the denied ranges, which coturn checks first),
        `allowed_peer_networks` let through; every other setting, the remaining denied
        ranges and the quotas included, stays production's.
        """
        loopback = ipaddress.ip_address(host).is_loopback
        return replace(
            self, static_auth_secret=secret, listening_ips=(host,),
            relay_ip=host, external_ip=None, listening_port=port, min_port=min_port,
            max_port=max_port, cert_file=None, pkey_file=None, allow_loopback_peers=loopback,
            allowed_peer_networks=allowed_peer_networks,
            log_file=f"{workdir}/turn.log",
            extra_lines=(f"userdb={workdir}/turndb", f"pidfile={workdir}/turnserver.pid",
                         "simple-log"),
        )


def render_turnserver_conf(config: TurnServerConfig) -> str:
    """The text of ``turnserver.conf``."""
    lines = [f"listening-ip={ip}" for ip in config.listening_ips]
    if config.relay_ip:
        lines.append(f"relay-ip={config.relay_ip}")
    if config.external_ip:
        lines.append(f"external-ip={config.external_ip}")
    lines += [
        f"listening-port={config.listening_port}",
        f"min-port={config.min_port}",
        f"max-port={config.max_port}",
        # TURN REST API credentials (what the relay's ice-servers hand out)
        "use-auth-secret",
        f"static-auth-secret={config.static_auth_secret}",
        f"realm={config.realm}",
        "fingerprint",
        # quotas
        f"user-quota={config.user_quota}",
        f"total-quota={config.total_quota}",
        f"max-bps={config.max_bps}",
        f"max-allocate-lifetime={config.max_allocate_lifetime}",
        # WebRTC relays UDP; no TCP relays to arbitrary hosts, no multicast
        "no-tcp-relay",
        "no-multicast-peers",
        "no-cli",
        "no-software-attribute",
    ]
    if config.tls:
        lines += [
            f"tls-listening-port={config.tls_listening_port}",
            f"cert={config.cert_file}",
            f"pkey={config.pkey_file}",
            "no-tlsv1",
            "no-tlsv1_1",
        ]
    else:
        lines += ["no-tls", "no-dtls"]
    networks = tuple(n for n in DENIED_PEER_NETWORKS if n not in config.allowed_peer_networks)
    if config.allow_loopback_peers:
        lines.append("allow-loopback-peers")
        networks = tuple(n for n in networks if n not in LOOPBACK_NETWORKS)
    lines += [f"denied-peer-ip={r}" for r in denied_peer_ranges(networks)]
    lines.append(f"log-file={config.log_file}")
    lines += list(config.extra_lines)
    return "\n".join(lines) + "\n"
