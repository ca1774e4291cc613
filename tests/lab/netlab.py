"""A network lab inside the machine: namespaces, veth pairs, bridges, nftables NAT.

    internet (namespace `<prefix>-inet`, bridge `br0`, 198.51.100.1/24)
      │  the local stack (gateway + moto) and coturn listen on 198.51.100.1
      ├── router r1 (wan 198.51.100.11) ── LAN 1: bridge `lan`, 192.168.1.1/24
      │        hosts h1a 192.168.1.10, h1b 192.168.1.11, …  (default route via .1)
      └── router r2 (wan 198.51.100.12) ── LAN 2: 192.168.2.0/24 …

Every address belongs to an interface inside a namespace this module created; no
namespace gets a link or a route to the host's own interfaces (every veth is
created with both ends inside lab namespaces, and the public side is the
documentation range 198.51.100.0/24). Namespace names carry the owner's pid
(`sgl<pid>-…`): `remove_stale_labs()` deletes only labs whose process is dead, so a
re-run never fights a live one. `Lab.close()` kills every process inside the lab's
namespaces and deletes them; call it in `finally` (the tests' fixtures do).

NAT kinds (nftables in the router namespace):
- `eim`: `masquerade` — Linux keeps a free source port, which behaves as an
  endpoint-independent mapping; with unsolicited inbound packets dropped (address-
  and port-dependent filtering), hole punching works as with a home router.
- `symmetric`: `masquerade random` — a random port per flow (per destination).

Firewalls (`block`): `udp` drops every UDP packet leaving the LAN; `all` drops
everything leaving the LAN except TCP to the given signalling/storage ports.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import logging
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

logger = logging.getLogger(__name__)

PUBLIC_NET = ipaddress.ip_network("198.51.100.0/24")
INTERNET_ADDRESS = "198.51.100.1"
"""Where the stack and coturn listen, on the internet bridge."""
_PREFIX_RE = re.compile(r"^sgl(\d+)-")


class LabError(RuntimeError):
    """The lab could not be built (no root, no namespaces, no nftables)."""


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(["ip", *args], capture_output=True, text=True)
    if check and result.returncode != 0:
        raise LabError(f"`ip {' '.join(args)}` failed: {result.stderr.strip()}")
    return result


def namespaces() -> list[str]:
    """Names of the machine's network namespaces (`ip netns list`)."""
    out = _ip("netns", "list", check=False).stdout
    return [line.split()[0] for line in out.splitlines() if line.strip()]


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _kill_namespace_processes(ns: str) -> None:
    """SIGKILL every process inside `ns` (all of them started by a lab)."""
    for _ in range(3):
        pids = [int(p) for p in _ip("netns", "pids", ns, check=False).stdout.split()]
        if not pids:
            return
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.1)


def _delete_namespace(ns: str) -> None:
    _kill_namespace_processes(ns)
    _ip("netns", "del", ns, check=False)


def remove_stale_labs() -> list[str]:
    """Delete the namespaces of labs whose owning process is gone (a killed run)."""
    removed = []
    for ns in namespaces():
        match = _PREFIX_RE.match(ns)
        if match and not _pid_alive(int(match.group(1))):
            _delete_namespace(ns)
            removed.append(ns)
    return removed


def check_lab_support() -> None:
    """Raise `LabError` (with the reason) when this machine cannot host a lab."""
    if os.geteuid() != 0:
        raise LabError("the network lab needs root (network namespaces, veth, nftables)")
    for tool in ("ip", "nft"):
        if subprocess.run(["which", tool], capture_output=True).returncode != 0:
            raise LabError(f"`{tool}` is missing: run scripts/install-system-deps.sh")
    probe = f"sgl{os.getpid()}-probe"
    result = _ip("netns", "add", probe, check=False)
    if result.returncode != 0:
        raise LabError(f"this machine cannot create network namespaces: {result.stderr.strip()}")
    _ip("netns", "del", probe, check=False)


def _name_servers(path: str = "/etc/resolv.conf") -> list[str]:
    """The IPv4 name servers the machine's resolver would ask (also inside a namespace)."""
    found = []
    with contextlib.suppress(OSError):
        for line in Path(path).read_text().splitlines():
            parts = line.split()
            if len(parts) >= 2 and parts[0] == "nameserver":
                with contextlib.suppress(ValueError):
                    if ipaddress.ip_address(parts[1]).version == 4:
                        found.append(parts[1])
    return found


@dataclass
class Lan:
    """One LAN behind its router."""

    index: int
    """1, 2, …: the LAN is 192.168.<index>.0/24, the router's wan 198.51.100.<10+index>."""
    nat: str
    """`eim` or `symmetric`."""
    block: str = "none"
    """`none`, `udp` (UDP never leaves the LAN) or `all` (only `allow_tcp` ports do)."""
    allow_tcp: tuple[int, ...] = ()
    """With `block="all"`: TCP ports on the internet address that stay reachable."""
    hosts: list[str] = field(default_factory=list)
    """Namespace names of the hosts, in order."""
    router: str = ""
    """The router's namespace."""
    impaired: bool = False
    """Forwarded traffic goes through the user-space impairment (`tests/lab/impair.py`)."""

    @property
    def wan_address(self) -> str:
        return str(PUBLIC_NET[10 + self.index])

    def host_address(self, n: int) -> str:
        return f"192.168.{self.index}.{10 + n}"


class Lab:
    """A lab of namespaces; build with `Lab.build(...)`, end with `close()`."""

    def __init__(self) -> None:
        self.prefix = f"sgl{os.getpid()}-{os.urandom(2).hex()}"
        self.created: list[str] = []
        self.lans: list[Lan] = []
        self.internet = f"{self.prefix}-inet"
        self.mtu: int | None = None
        """Every link's MTU when not Ethernet's 1,500 (`build(mtu=...)`)."""

    # --- building --------------------------------------------------------------------

    @classmethod
    def build(cls, lans: Sequence[tuple[str, int]] | Sequence[Lan],
              hosts_per_lan: int = 1, mtu: int | None = None) -> Lab:
        """A lab with one LAN per `(nat, hosts)` pair (or prepared `Lan`s); every link
        carries `mtu`-byte packets if given (jumbo frames, say), else 1,500."""
        check_lab_support()
        lab = cls()
        try:
            lab._add_internet()
            # one element type for the loop: a union of sequences iterates as `object`
            specs: Sequence[tuple[str, int] | Lan] = lans
            for i, spec in enumerate(specs, start=1):
                if isinstance(spec, Lan):
                    lan, count = spec, max(hosts_per_lan, 1)
                    lan.index = i
                else:
                    nat, count = spec
                    lan = Lan(i, nat)
                lab._add_lan(lan, count)
            if mtu is not None:
                lab._set_mtu(mtu)
        except BaseException:
            lab.close()
            raise
        return lab

    def _netns(self, name: str) -> str:
        ns = f"{self.prefix}-{name}"
        _ip("netns", "add", ns)
        self.created.append(ns)
        _ip("-n", ns, "link", "set", "lo", "up")
        return ns

    def _add_internet(self) -> None:
        ns = self._netns("inet")
        _ip("-n", ns, "link", "add", "br0", "type", "bridge")
        _ip("-n", ns, "addr", "add", f"{INTERNET_ADDRESS}/24", "dev", "br0")
        _ip("-n", ns, "link", "set", "br0", "up")
        # Like a server on the internet, the internet side has a default route: to a
        # "void" namespace that silently drops everything. A packet to a private
        # address (a peer's host candidate, when a TURN server relays to it) then
        # vanishes, as on the internet, instead of failing with "network unreachable",
        # which makes coturn close the whole allocation (see docs/networking.md).
        void = self._netns("void")
        _ip("-n", ns, "link", "add", "void", "type", "veth", "peer", "name", "void",
            "netns", void)
        _ip("-n", ns, "addr", "add", "192.0.2.1/30", "dev", "void")
        _ip("-n", ns, "link", "set", "void", "up")
        _ip("-n", void, "addr", "add", "192.0.2.2/30", "dev", "void")
        _ip("-n", void, "link", "set", "void", "up")
        self.nft(void, VOID_RULES)
        _ip("-n", ns, "route", "add", "default", "via", "192.0.2.2")
        # No name server is reachable from the lab. Without these routes a lookup would
        # vanish in the void too and wait out the resolver's timeouts: every HTTP server
        # (moto, the gateway, the page's) asks `socket.getfqdn(address)` when it binds,
        # which cost 10 s each (half of the internet side's start). Unreachable fails at once.
        for resolver in _name_servers():
            _ip("-n", ns, "route", "add", "unreachable", f"{resolver}/32")

    def _add_lan(self, lan: Lan, count: int) -> None:
        router = self._netns(f"r{lan.index}")
        lan.router = router
        # wan: a veth from the router to the internet bridge (both ends in lab namespaces)
        _ip("-n", router, "link", "add", "wan", "type", "veth", "peer", "name",
            f"r{lan.index}", "netns", self.internet)
        _ip("-n", self.internet, "link", "set", f"r{lan.index}", "master", "br0", "up")
        _ip("-n", router, "addr", "add", f"{lan.wan_address}/24", "dev", "wan")
        _ip("-n", router, "link", "set", "wan", "up")
        _ip("-n", router, "link", "add", "lan", "type", "bridge")
        _ip("-n", router, "addr", "add", f"192.168.{lan.index}.1/24", "dev", "lan")
        _ip("-n", router, "link", "set", "lan", "up")
        self.exec(router, "sysctl", "-qw", "net.ipv4.ip_forward=1")
        for n in range(count):
            host = self._netns(f"h{lan.index}{chr(ord('a') + n)}")
            _ip("-n", host, "link", "add", "eth0", "type", "veth", "peer", "name",
                f"h{n}", "netns", router)
            _ip("-n", router, "link", "set", f"h{n}", "master", "lan", "up")
            _ip("-n", host, "addr", "add", f"{lan.host_address(n)}/24", "dev", "eth0")
            _ip("-n", host, "link", "set", "eth0", "up")
            _ip("-n", host, "route", "add", "default", "via", f"192.168.{lan.index}.1")
            lan.hosts.append(host)
        self.nft(router, router_rules(lan))
        self.lans.append(lan)

    def _set_mtu(self, mtu: int) -> None:
        self.mtu = mtu
        def names(ns: str, *kind: str) -> list[str]:
            listing = _ip("-n", ns, "-o", "link", "show", *kind).stdout.splitlines()
            return [line.split(": ")[1].split("@")[0] for line in listing]

        for ns in self.created:
            bridges = names(ns, "type", "bridge")
            ports = [name for name in names(ns) if name != "lo" and name not in bridges]
            # a bridge takes an MTU no larger than its ports': ports first
            for name in ports + bridges:
                _ip("-n", ns, "link", "set", "dev", name, "mtu", str(mtu))

    # --- running things inside ----------------------------------------------------

    def exec(self, ns: str, *argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run a command inside `ns` and wait for it."""
        result = subprocess.run(["ip", "netns", "exec", ns, *argv], capture_output=True,
                                text=True)
        if check and result.returncode != 0:
            raise LabError(f"{argv} in {ns} failed: {result.stderr.strip()}")
        return result

    def nft(self, ns: str, rules: str) -> None:
        """Load an nftables rule set inside `ns`."""
        result = subprocess.run(["ip", "netns", "exec", ns, "nft", "-f", "-"], input=rules,
                                capture_output=True, text=True)
        if result.returncode != 0:
            raise LabError(f"nft in {ns} failed: {result.stderr.strip()}\n{rules}")

    def counter(self, ns: str, name: str, unit: str = "packets") -> int:
        """Packets (or `bytes`) counted by the named nftables counter in `ns` (table
        `inet lab`)."""
        out = self.exec(ns, "nft", "list", "counter", "inet", "lab", name).stdout
        match = re.search(rf"{unit} (\d+)", out)
        assert match, out
        return int(match.group(1))

    def limit_rate(self, lan: Lan, mbit: float | None) -> None:
        """Cap what the router sends to the internet at `mbit` (a `tbf` queue on its wan),
        so a transfer lasts long enough to break it mid-way; None removes the cap."""
        self.exec(lan.router, "tc", "qdisc", "del", "dev", "wan", "root", check=False)
        if mbit is not None:
            self.exec(lan.router, "tc", "qdisc", "add", "dev", "wan", "root", "tbf", "rate",
                      f"{mbit}mbit", "burst", "64kb", "latency", "100ms")

    def firewall(self, lan: Lan, block: str, allow_tcp: tuple[int, ...] = ()) -> None:
        """Replace a router's firewall (`none`, `udp` or `all` but `allow_tcp`)."""
        lan.block, lan.allow_tcp = block, allow_tcp
        self.nft(lan.router, router_rules(lan))

    def impair(self, lan: Lan, delay_ms: float = 0.0, loss: float = 0.0,
               jitter_ms: float = 0.0) -> Impairment:
        """Route everything the router forwards through `tests/lab/impair.py` (delay,
        jitter, loss in user space: this kernel has no netem); `stop()` it after."""
        proc = subprocess.Popen(
            self.command(lan.router, [sys.executable, "-m", "tests.lab.impair",
                                      "--delay-ms", str(delay_ms), "--jitter-ms",
                                      str(jitter_ms), "--loss", str(loss)]),
            cwd=Path(__file__).resolve().parents[2], stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, text=True,
        )
        assert proc.stdout is not None
        if '"ready"' not in proc.stdout.readline():
            proc.kill()
            raise LabError("the impairment did not start")
        r = lan.router
        if self.mtu is not None:
            _ip("-n", r, "link", "set", "dev", "imp0", "mtu", str(self.mtu))
        _ip("-n", r, "link", "set", "imp0", "up")
        for conf in ("all", "default", "imp0", "lan", "wan"):
            self.exec(r, "sysctl", "-qw", f"net.ipv4.conf.{conf}.rp_filter=0")
        # packets forwarded between the LAN and the internet, in both directions, take a
        # detour through imp0; what impair.py writes back enters from imp0 and follows
        # the main table
        _ip("-n", r, "route", "add", "default", "dev", "imp0", "table", "100")
        _ip("-n", r, "rule", "add", "iif", "lan", "table", "100")
        _ip("-n", r, "rule", "add", "iif", "wan", "table", "100")
        lan.impaired = True
        self.nft(r, router_rules(lan))
        return Impairment(self, lan, proc)

    def command(self, ns: str, argv: Sequence[str]) -> list[str]:
        """`argv` prefixed to run inside `ns` (for `subprocess`/`asyncio` spawning)."""
        return ["ip", "netns", "exec", ns, *argv]

    def change_wan_address(self, lan: Lan, new_last_octet: int) -> str:
        """Give a router a new public address; masquerade forgets every mapping made
        with the old one (as when a home router's address changes)."""
        new = str(PUBLIC_NET[new_last_octet])
        shown = json.loads(_ip("-n", lan.router, "-j", "-4", "addr", "show", "dev", "wan").stdout)
        # the old one goes first: deleting a primary address deletes the secondaries of
        # its subnet with it, so a new address added first would go too
        for info in shown[0]["addr_info"] if shown else ():
            _ip("-n", lan.router, "addr", "del", f"{info['local']}/24", "dev", "wan")
        _ip("-n", lan.router, "addr", "add", f"{new}/24", "dev", "wan")
        return new

    # --- teardown ----------------------------------------------------------------------

    def close(self) -> None:
        """Kill every process in the lab's namespaces, then delete them (idempotent)."""
        for ns in reversed(self.created):
            _delete_namespace(ns)
        self.created.clear()

    def __enter__(self) -> Lab:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# With the impairment, a forwarded packet crosses the router twice (in from the LAN or
# the wan, out to imp0; back in from imp0, out to its real interface). Conntrack and
# NAT must see each packet once, on its real crossing: the LAN-side pass is not
# tracked (NAT happens when it leaves through wan), nor is the inbound packet written
# back from imp0 (its reply translation already happened when it came in from wan).
IMPAIRED_RAW = """
table ip labraw {
    chain prerouting {
        type filter hook prerouting priority -300; policy accept;
        iifname "lan" notrack
        iifname "imp0" ip daddr 192.168.0.0/16 notrack
    }
}
"""

VOID_RULES = """
flush ruleset
table inet void {
    chain prerouting {
        type filter hook prerouting priority -300; policy drop;
    }
}
"""


class Impairment:
    """A running `impair.py` in a router; `stop()` restores the plain path."""

    def __init__(self, lab: Lab, lan: Lan, proc: subprocess.Popen[str]) -> None:
        self.lab, self.lan, self.proc = lab, lan, proc

    def stop(self) -> dict[str, float]:
        """Stop it; its counts and CPU seconds (`cpu_s`)."""
        r = self.lan.router
        _ip("-n", r, "rule", "del", "iif", "lan", "table", "100", check=False)
        _ip("-n", r, "rule", "del", "iif", "wan", "table", "100", check=False)
        self.lan.impaired = False
        self.lab.nft(r, router_rules(self.lan))
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.close()
        line = self.proc.stdout.readline()
        self.proc.wait(10)
        stats: dict[str, float] = json.loads(line) if line else {}
        return stats


def router_rules(lan: Lan) -> str:
    """The router's nftables rule set: NAT, its firewall, and counters for tests."""
    masquerade = {"eim": "masquerade", "symmetric": "masquerade random"}[lan.nat]
    if lan.block == "udp":
        outbound = 'oifname "wan" meta l4proto udp counter name blocked drop'
    elif lan.block == "all":
        ports = ", ".join(str(p) for p in lan.allow_tcp) or "0"
        outbound = (f'oifname "wan" ip daddr {INTERNET_ADDRESS} tcp dport {{ {ports} }} accept\n'
                    '        oifname "wan" counter name blocked drop')
    else:
        outbound = ""
    peers = ", ".join(str(PUBLIC_NET[10 + i]) for i in range(1, 10) if i != lan.index)
    # Unsolicited inbound packets are dropped, in the forward path and at the router
    # itself: otherwise the peer's first punch is answered by the router (conntrack
    # records it as a flow to the router) and the later outbound packet of the hole
    # punch is masqueraded to another port (see FIELD-NOTES).
    return f"""
flush ruleset
table inet lab {{
    counter blocked {{ }}
    counter from_peers {{ }}
    counter to_lan {{ }}
    chain forward {{
        type filter hook forward priority 0; policy accept;
        iifname "wan" ip saddr {{ {peers} }} counter name from_peers
        oifname "lan" counter name to_lan
        iifname "wan" ct state new drop
        {outbound}
    }}
    chain input {{
        type filter hook input priority 0; policy accept;
        iifname "wan" ct state new drop
    }}
}}
{IMPAIRED_RAW if lan.impaired else ""}
table ip labnat {{
    chain postrouting {{
        type nat hook postrouting priority 100; policy accept;
        oifname "wan" {masquerade}
    }}
}}
"""
