"""ICE configuration: the servers from the backend, local-only and relay-only modes.

`IceSettings.to_rtc_configuration()` always hands aiortc a list of servers, never
`None` (with `None` aiortc falls back to Google's public STUN server).

Local-only mode keeps every packet on loopback: gathering yields 127.0.0.1 alone
(see `loopback_gathering`), any configured STUN/TURN server must listen on
loopback, and every remote candidate that is not 127.0.0.1 is dropped, whether it
comes in the remote SDP or trickled (browsers trickle their host candidates).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field, replace
from typing import Any

import aioice.ice
from aiortc import RTCConfiguration, RTCIceServer
from aiortc.rtcconfiguration import RTCIceTransportPolicy
from aiortc.rtcicetransport import parse_stun_turn_uri

from ..timeouts import within
from .errors import IceConfigError, SdpError
from .sdp import candidate_address

logger = logging.getLogger(__name__)

LOOPBACK = "127.0.0.1"
_LOOPBACK_HOSTS = frozenset({LOOPBACK, "localhost"})


@dataclass(frozen=True)
class IceSettings:
    """How a peer connection finds its path to the other peer."""

    servers: list[dict[str, Any]] = field(default_factory=list)
    """STUN/TURN servers as the backend's `ice-servers` action returns them:
    `{"urls": [...], "username": ..., "credential": ...}`. aiortc uses only the first
    STUN and the first TURN URL."""
    local_only: bool = False
    """Gather 127.0.0.1 alone and accept only 127.0.0.1 remote candidates."""
    relay_only: bool = False
    """Use relayed (TURN) candidates only; needs a TURN server in `servers`."""

    def __post_init__(self) -> None:
        has_turn = False
        for server in self.servers:
            urls = server.get("urls")
            if isinstance(urls, str):
                urls = [urls]
            if not urls:
                raise IceConfigError(f"an ICE server without urls: {server!r}")
            for url in urls:
                try:
                    parsed = parse_stun_turn_uri(url)
                except ValueError as exc:
                    raise IceConfigError(f"unusable ICE server URL {url!r}: {exc}") from exc
                has_turn = has_turn or parsed["scheme"] in ("turn", "turns")
                if self.local_only and parsed["host"] not in _LOOPBACK_HOSTS:
                    raise IceConfigError(
                        f"local-only mode allows ICE servers on {LOOPBACK} only, not {url!r}"
                    )
        if self.relay_only and not has_turn:
            raise IceConfigError("relay-only mode needs a TURN server among the ICE servers")

    @classmethod
    def local(cls, servers: Sequence[Mapping[str, Any]] = ()) -> IceSettings:
        """Local-only settings (tests, benchmarks, the demo); no server unless given."""
        return cls(servers=[dict(s) for s in servers], local_only=True)

    def to_rtc_configuration(self) -> RTCConfiguration:
        """aiortc's configuration; `iceServers` is always a list (maybe empty)."""
        servers = [
            RTCIceServer(
                urls=list(s["urls"]) if not isinstance(s["urls"], str) else s["urls"],
                username=s.get("username"),
                credential=s.get("credential"),
            )
            for s in self.servers
        ]
        policy = RTCIceTransportPolicy.RELAY if self.relay_only else RTCIceTransportPolicy.ALL
        return RTCConfiguration(iceServers=servers, iceTransportPolicy=policy)

    # --- TURN credentials --------------------------------------------------------

    @property
    def turn_expires_at(self) -> int | None:
        """When the TURN credentials expire (unix seconds), read from the TURN REST
        username `<expiry>:<id>`; None without TURN or for another username form."""
        expiries = [int(m.group(1)) for s in self.servers
                    if (m := _REST_USERNAME.match(str(s.get("username") or "")))]
        return min(expiries) if expiries else None

    def turn_expired(self, now: float | None = None, margin: float = 0.0) -> bool:
        """Whether the TURN credentials expire before `now + margin` (a new allocation
        made with them would be refused; see docs/networking.md §7)."""
        expires = self.turn_expires_at
        now = time.time() if now is None else now
        return expires is not None and expires < now + margin

    def with_servers(self, servers: Sequence[Mapping[str, Any]]) -> IceSettings:
        """The same modes with other servers (fresh credentials)."""
        return replace(self, servers=[dict(s) for s in servers])

    # --- remote candidates -------------------------------------------------------

    def accepts_remote_candidate(self, candidate: str) -> bool:
        """Whether a remote `candidate:...` line may be used; in local-only mode only
        127.0.0.1 may pair (a malformed line is refused)."""
        if not self.local_only:
            return True
        try:
            address = candidate_address(candidate)
        except SdpError:
            logger.debug("dropping malformed remote candidate %r", candidate)
            return False
        if address != LOOPBACK:
            logger.debug("local-only: dropping remote candidate at %s", address)
            return False
        return True

    def filter_remote_sdp(self, sdp: str) -> str:
        """`sdp` without the `a=candidate:` lines `accepts_remote_candidate` refuses."""
        if not self.local_only:
            return sdp
        newline = "\r\n" if "\r\n" in sdp else "\n"
        kept = [
            line
            for line in sdp.splitlines()
            if not line.startswith("a=candidate:") or self.accepts_remote_candidate(line)
        ]
        return newline.join(kept) + newline

    def check_local_sdp(self, sdp: str) -> None:
        """In local-only mode, refuse a local description offering anything but 127.0.0.1."""
        if not self.local_only:
            return
        for line in sdp.splitlines():
            if line.startswith("a=candidate:") and candidate_address(line) != LOOPBACK:
                raise IceConfigError(
                    f"local-only mode gathered a non-loopback candidate: {line!r}"
                )


_REST_USERNAME = re.compile(r"^(\d+):")


# --- which TURN URL aiortc gets ----------------------------------------------------
#
# aiortc uses only the first TURN URL it is given. The relay lists TURN over UDP first
# (the fastest), then TCP/TLS for networks that drop UDP: on such a network aiortc
# would try UDP alone and never get a relayed candidate. So before a connection the
# client asks the TURN server one STUN Binding over UDP; without an answer, the
# TCP/TLS URLs go first. A network that passes UDP answers within a round trip.

TURN_UDP_PROBE_SECONDS = 1.5
"""How long to wait for the UDP answer before preferring TURN over TCP/TLS."""


class _ProbeProtocol(asyncio.DatagramProtocol):
    def __init__(self, request: bytes) -> None:
        self.request = request
        self.answered: asyncio.Future[bool] = asyncio.get_running_loop().create_future()

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        if data[8:20] == self.request[8:20] and not self.answered.done():
            self.answered.set_result(True)

    def error_received(self, exc: Exception) -> None:
        if not self.answered.done():
            self.answered.set_result(False)


async def udp_answers(host: str, port: int, timeout: float = TURN_UDP_PROBE_SECONDS) -> bool:
    """Whether a STUN Binding request over UDP to host:port gets an answer in time."""
    request = b"\x00\x01\x00\x00\x21\x12\xa4\x42" + os.urandom(12)
    loop = asyncio.get_running_loop()
    try:
        transport, protocol = await loop.create_datagram_endpoint(
            lambda: _ProbeProtocol(request), remote_addr=(host, port))
    except OSError:
        return False
    try:
        for _ in range(3):  # a lost datagram is not a blocked network
            transport.sendto(request)
            try:
                return await within(asyncio.shield(protocol.answered), timeout / 3)
            except TimeoutError:
                continue
        return False
    finally:
        transport.close()


async def tcp_answers(host: str, port: int, timeout: float = TURN_UDP_PROBE_SECONDS) -> bool:
    """Whether a TCP connection to host:port opens in time (then closed at once)."""
    try:
        _, writer = await within(asyncio.open_connection(host, port), timeout)
    except (OSError, TimeoutError):
        return False
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return True


def _is_udp_turn(url: str) -> bool:
    parsed = parse_stun_turn_uri(url)
    return parsed["scheme"] == "turn" and parsed.get("transport", "udp") == "udp"


async def reachable_turn_first(settings: IceSettings) -> IceSettings:
    """`settings` with TCP/TLS TURN URLs first when TURN over UDP does not answer but
    TCP does (only where a server offers both: otherwise there is nothing to choose).
    Where neither answers the order stays: a TURN over TCP that a firewall drops would
    hold aiortc's gathering for the kernel's connect timeout (minutes), UDP only for
    aioice's STUN retries."""
    servers = []
    for server in settings.servers:
        urls = [server["urls"]] if isinstance(server["urls"], str) else list(server["urls"])
        turn = [u for u in urls if u.startswith(("turn:", "turns:"))]
        udp = [u for u in turn if _is_udp_turn(u)]
        if udp and len(udp) < len(turn) and turn[0] in udp:
            parsed = parse_stun_turn_uri(udp[0])
            tcp = parse_stun_turn_uri(next(u for u in turn if u not in udp))
            if (not await udp_answers(parsed["host"], parsed["port"])
                    and await tcp_answers(tcp["host"], tcp["port"])):
                logger.info("TURN over UDP does not answer (%s): using TURN over TCP/TLS",
                            udp[0])
                urls = [u for u in urls if u not in udp] + udp
        servers.append({**server, "urls": urls})
    return settings.with_servers(servers)


# --- local-only gathering --------------------------------------------------------
#
# aioice offers no setting for which addresses to gather: `Connection.gather_candidates`
# calls the module-level `aioice.ice.get_host_addresses`, which skips 127.0.0.1. The
# only hook is to replace that function in aioice's namespace, which is process-wide.
# The replacement dispatches on a ContextVar, so it changes behaviour only for peer
# connections set up inside `loopback_gathering()` (asyncio copies the context into the
# tasks that gather); any other connection in the same process gathers as before.

_loopback_only: ContextVar[bool] = ContextVar("sgraph_send_loopback_only", default=False)
_PATCH_MARK = "_sgraph_send_loopback_dispatch"


def install_loopback_gathering() -> None:
    """Install the dispatching `get_host_addresses` into aioice (idempotent)."""
    current = aioice.ice.get_host_addresses
    if getattr(current, _PATCH_MARK, False):
        return
    original = current

    def get_host_addresses(use_ipv4: bool, use_ipv6: bool) -> list[str]:
        if _loopback_only.get():
            return [LOOPBACK] if use_ipv4 else []
        return original(use_ipv4=use_ipv4, use_ipv6=use_ipv6)

    setattr(get_host_addresses, _PATCH_MARK, True)
    aioice.ice.get_host_addresses = get_host_addresses


@contextmanager
def loopback_gathering() -> Iterator[None]:
    """Within this block (and tasks started from it), ICE gathers 127.0.0.1 alone."""
    install_loopback_gathering()
    token = _loopback_only.set(True)
    try:
        yield
    finally:
        _loopback_only.reset(token)


# --- the path a connection took ------------------------------------------------------


@dataclass(frozen=True)
class SelectedPath:
    """The candidate pair ICE nominated: what a transfer's packets actually travel."""

    local_type: str
    """`host`, `srflx`, `prflx` or `relay`: how this side is reached."""
    remote_type: str
    """The same for the other side's candidate."""
    local_address: tuple[str, int]
    """The local candidate's address (a TURN relay's address for `relay`)."""
    remote_address: tuple[str, int]
    """Where this side sends: the peer, its NAT's mapping, or its TURN relay."""

    @property
    def relayed(self) -> bool:
        """Whether a TURN server carries the packets (either side's candidate is relayed)."""
        return "relay" in (self.local_type, self.remote_type)

    @property
    def label(self) -> str:
        """`host/srflx`-style: local candidate type / remote candidate type."""
        return f"{self.local_type}/{self.remote_type}"


def selected_path(pc: Any) -> SelectedPath | None:
    """The nominated candidate pair of an aiortc peer connection, None before one exists.

    aiortc exposes no selected pair (its `getStats` has no candidate-pair report), so
    this reads aioice's nominated pair through aiortc's private attributes: peer
    connection → SCTP → DTLS → ICE transport → aioice `Connection._nominated`.
    """
    return selected_path_of_sctp(getattr(pc, "sctp", None))


def selected_path_of_sctp(sctp: Any) -> SelectedPath | None:
    """`selected_path` from an aiortc SCTP transport (the adapters below it hold one)."""
    try:
        connection = sctp.transport.transport._connection
        pair = connection._nominated.get(1)
    except AttributeError:
        return None
    if pair is None:
        return None
    local, remote = pair.local_candidate, pair.remote_candidate
    return SelectedPath(local.type, remote.type, (local.host, local.port),
                        tuple(pair.remote_addr))
