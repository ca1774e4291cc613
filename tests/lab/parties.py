"""The parties of a lab test: the internet side (stack + coturn) and CLI peers in LANs."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.e2e.peers import CLI, ROOT, Peer, PeerRun

from .netlab import Lab

LAB_FAST = ["--connect-timeout", "20", "--reconnect-grace", "30"]


@dataclass
class Internet:
    """The lab's internet side as `tests.lab.internet` printed it."""

    info: dict[str, Any]
    record: Path
    """JSON lines: every frame the gateway relayed."""

    @property
    def url(self) -> str:
        return str(self.info["ws_url"])

    def relayed(self) -> list[dict[str, Any]]:
        """Every frame relayed so far."""
        text = self.record.read_text() if self.record.exists() else ""
        return [json.loads(line) for line in text.splitlines() if line]


@contextmanager
def internet(lab: Lab, workdir: Path, *args: str) -> Iterator[Internet]:
    """Start the stack and coturn inside the lab's internet namespace; stop them after."""
    record = workdir / "relayed.jsonl"
    proc = subprocess.Popen(
        lab.command(lab.internet, [sys.executable, "-m", "tests.lab.internet",
                                   "--record", str(record), *args]),
        cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if not line:
            raise RuntimeError(f"the lab's internet side did not start (exit {proc.wait()})")
        yield Internet(json.loads(line), record)
    finally:
        if proc.stdin is not None:
            proc.stdin.close()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


async def start_peer(lab: Lab, ns: str, *args: str, cwd: Path = ROOT) -> Peer:
    """A `sgraph-send` CLI process inside the namespace `ns` (`--json` output), its
    code from the checkout `cwd` (`python -m` imports from there first)."""
    proc = await asyncio.create_subprocess_exec(
        *lab.command(ns, [*CLI, *args, "--json"]), cwd=cwd,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "COLUMNS": "120"},
    )
    return Peer(proc)


async def lab_transfer(lab: Lab, net: Internet, sender_ns: str, receiver_ns: str, path: Path,
                       out: Path, send_args: Sequence[str] = (),
                       receive_args: Sequence[str] = (),
                       during: Callable[[], Awaitable[None]] | None = None,
                       ) -> tuple[PeerRun, PeerRun]:
    """Send `path` from one namespace to another through the lab; both runs' output.
    `during` runs once both peers are started (to break the path mid-transfer)."""
    sender = await start_peer(lab, sender_ns, "send", str(path), "--server", net.url,
                              "--ice", "any", *LAB_FAST, "--p2p-timeout", "60", *send_args)
    try:
        link = await sender.next_event(60)
        assert link["event"] == "link", link
        receiver = await start_peer(lab, receiver_ns, "receive", link["code"], "-o", str(out),
                                    "--server", net.url, "--ice", "any", *LAB_FAST,
                                    *receive_args)
        try:  # both at once: neither blocks on a full stderr pipe
            runs = [receiver.finish(240), sender.finish(240)]
            received, sent, *_ = await asyncio.gather(*runs, *([during()] if during else []))
            # gather's result type takes in `during`'s None; the first two are runs
            assert received is not None and sent is not None
        finally:
            await receiver.kill()
    finally:
        await sender.kill()
    return sent, received
