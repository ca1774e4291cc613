"""A coturn TURN server on 127.0.0.1 for tests and benchmarks (Debian's `coturn`).

Two browser pages on one machine cannot pair directly over loopback (Chromium
gathers no 127.0.0.1 candidate), so browser-to-browser tests relay through this
server with a relay-only policy: it listens and relays on 127.0.0.1 alone
(`allow-loopback-peers`, without which the channel silently never opens) and
checks TURN REST API credentials (`use-auth-secret` + `static-auth-secret`),
the ones the relay's `ice-servers` action hands out when the local stack runs with
`TURN_URLS` and `TURN_SECRET` (see `handler_env`). Its `turnserver.conf` is
production's (`infra/turnserver_conf.py`, what the coturn EC2 instance runs) with
only addresses, ports, TLS and the loopback exception changed.

    with Coturn.start() as turn:
        DevStackProcess(env=..., *turn.devstack_args())

A missing `turnserver` raises `FileNotFoundError` (tests must fail, never skip).
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from types import TracebackType

from infra.turnserver_conf import TurnServerConfig, render_turnserver_conf

TURNSERVER = "/usr/bin/turnserver"
REALM = "sgraph-send.local"


def _free_port(host: str = "127.0.0.1") -> int:
    """A port free for both UDP and TCP on `host` (coturn listens on both)."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            udp.bind((host, 0))
            port = int(udp.getsockname()[1])
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
                try:
                    tcp.bind((host, port))
                except OSError:
                    continue
            return port
    raise RuntimeError("no free port for coturn")


def _stun_answers(port: int, timeout: float, host: str = "127.0.0.1") -> bool:
    """Whether a STUN Binding request to host:port gets an answer."""
    request = b"\x00\x01\x00\x00\x21\x12\xa4\x42" + os.urandom(12)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(timeout)
        try:
            sock.sendto(request, (host, port))
            data, _ = sock.recvfrom(2048)
        except OSError:
            return False
    return data[8:20] == request[8:20]


class Coturn:
    """A running coturn; use `Coturn.start()` as a context manager."""

    def __init__(self, port: int, secret: str, workdir: Path, proc: subprocess.Popen[bytes],
                 host: str = "127.0.0.1", tls_port: int | None = None):
        self.host = host
        self.tls_port = tls_port
        """The TLS listener's port, when started with `tls`."""
        self.port = port
        self.secret = secret
        self.workdir = workdir
        self.proc = proc
        self.config = ""
        """The `turnserver.conf` it runs."""

    @property
    def url(self) -> str:
        """The TURN URL clients use (UDP)."""
        return f"turn:{self.host}:{self.port}?transport=udp"

    def url_for(self, transport: str) -> str:
        """The URL for `udp`, `tcp` or `tls` (`turns:`, only with a certificate)."""
        if transport == "tls":
            assert self.tls_port is not None, "started without a TLS certificate"
            return f"turns:{self.host}:{self.tls_port}?transport=tcp"
        return f"turn:{self.host}:{self.port}?transport={transport}"

    def handler_env(self) -> dict[str, str]:
        """Handler environment that makes `ice-servers` offer this server."""
        return {"TURN_URLS": self.url, "TURN_SECRET": self.secret}

    def devstack_args(self) -> list[str]:
        """The same as `--env` arguments of `python -m devstack`."""
        return [arg for k, v in self.handler_env().items() for arg in ("--env", f"{k}={v}")]

    @property
    def log(self) -> str:
        """coturn's log so far (for failure messages)."""
        path = self.workdir / "turn.log"
        return path.read_text(errors="replace") if path.exists() else ""

    @classmethod
    def start(cls, secret: str | None = None, timeout: float = 10.0, *,
              host: str = "127.0.0.1", loopback_peers: bool = True,
              tls: tuple[Path, Path] | None = None,
              allowed_peer_networks: tuple[str, ...] = (),
              extra: tuple[str, ...] = ()) -> Coturn:
        """Start coturn on free ports of `host` with production's configuration.

        `host` is 127.0.0.1 unless a network lab's address (whose documentation ranges,
        standing in for the internet, go in `allowed_peer_networks`);
        `loopback_peers=False` keeps production's refusal of loopback peers (then it
        can relay to nothing on this machine: for tests of that refusal); `tls`
        (certificate, key) adds production's TLS listener on `tls_port`; `extra` adds
        config lines (`verbose`).
        """
        if not Path(TURNSERVER).exists() and shutil.which("turnserver") is None:
            raise FileNotFoundError(
                f"{TURNSERVER} is missing: install Debian's coturn (scripts/install-system-deps.sh)"
            )
        secret = secret or secrets.token_urlsafe(24)
        workdir = Path(tempfile.mkdtemp(prefix="sgraph-coturn-"))
        port = _free_port(host)
        tls_port = _free_port(host) if tls is not None else None
        config = workdir / "turnserver.conf"
        # production's configuration (infra/turnserver_conf.py), on `host`
        production = TurnServerConfig(static_auth_secret="", realm=REALM)
        local = production.local(port=port, secret=secret, workdir=str(workdir), host=host,
                                 allowed_peer_networks=allowed_peer_networks)
        if not loopback_peers:
            local = replace(local, allow_loopback_peers=False)
        if tls is not None:
            assert tls_port is not None
            local = replace(local, tls_listening_port=tls_port, cert_file=str(tls[0]),
                            pkey_file=str(tls[1]))
        local = replace(local, extra_lines=local.extra_lines + extra)
        config.write_text(render_turnserver_conf(local))
        proc = subprocess.Popen(
            [TURNSERVER, "-c", str(config)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=workdir,
        )
        turn = cls(port, secret, workdir, proc, host, tls_port)
        turn.config = config.read_text()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                turn.stop()
                raise RuntimeError(f"turnserver exited with {proc.returncode}:\n{turn.log[-2000:]}")
            if _stun_answers(port, 0.2, host):
                return turn
        turn.stop()
        raise RuntimeError(
            f"turnserver did not answer STUN within {timeout:g} s:\n{turn.log[-2000:]}"
        )

    def stop(self) -> None:
        """Stop the server (SIGTERM, then SIGKILL) and remove its files."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> Coturn:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()
