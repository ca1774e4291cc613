"""Run `sgraph-send` senders and receivers as real, separate processes."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
CLI = [sys.executable, "-m", "transfer_core.cli"]
FAST = ["--connect-timeout", "10", "--reconnect-grace", "20"]

# The CLI, reporting its own peak RSS (VmHWM, KiB) as a last JSON line. Not ru_maxrss:
# Linux carries the forked copy of the parent's peak across exec into it, so under a pytest
# worker of 240 MiB every CLI "peaked" at 240 MiB, whatever it used.
_MEASURED_CLI = (
    "import json, re, sys\n"
    "from pathlib import Path\n"
    "from transfer_core.cli import main\n"
    "code = main(sys.argv[1:])\n"
    "peak = int(re.search(r'VmHWM:\\s*(\\d+)', Path('/proc/self/status').read_text())[1])\n"
    "print(json.dumps({'event': 'rss', 'peak_kib': peak}), flush=True)\n"
    "sys.exit(code)\n"
)


@dataclass
class PeerRun:
    """A finished CLI process: its exit code and the JSON lines it printed."""

    code: int
    events: list[dict[str, Any]] = field(default_factory=list)
    stderr: str = ""

    def event(self, name: str) -> dict[str, Any]:
        found = [e for e in self.events if e.get("event") == name]
        assert found, f"no {name!r} event; exit {self.code}; stderr:\n{self.stderr[-3000:]}"
        return found[-1]


class Peer:
    """One CLI process; `await peer.finish()` collects its output."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.events: list[dict[str, Any]] = []

    @classmethod
    async def start(cls, *args: str) -> Peer:
        return await cls._spawn(*CLI, *args)

    @classmethod
    async def start_measured(cls, *args: str) -> Peer:
        """As `start`, and the process prints its own peak RSS last: `event("rss")`."""
        return await cls._spawn(sys.executable, "-c", _MEASURED_CLI, *args)

    @classmethod
    async def _spawn(cls, *argv: str) -> Peer:
        proc = await asyncio.create_subprocess_exec(
            *argv,
            "--json",
            cwd=ROOT,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env={**os.environ, "COLUMNS": "120"},
        )
        return cls(proc)

    async def next_event(self, timeout: float = 30) -> dict[str, Any]:
        assert self.proc.stdout is not None
        line = await asyncio.wait_for(self.proc.stdout.readline(), timeout)
        assert line, "the process ended without printing an event"
        event: dict[str, Any] = json.loads(line)
        self.events.append(event)
        return event

    async def finish(self, timeout: float = 120) -> PeerRun:
        stdout, stderr = await asyncio.wait_for(self.proc.communicate(), timeout)
        self.events += [json.loads(line) for line in stdout.decode().splitlines() if line]
        return PeerRun(self.proc.returncode or 0, self.events, stderr.decode())

    async def kill(self) -> None:
        """SIGKILL, and reap it (an unreaped child outlives the test's event loop)."""
        if self.proc.returncode is None:
            self.proc.kill()
        await self.proc.communicate()


async def start_sender(server: str, path: Path, *extra: str) -> tuple[Peer, dict[str, Any]]:
    # a generous P2P deadline: these tests mean peer to peer unless they pass their own
    sender = await Peer.start("send", str(path), "--server", server, *FAST,
                              "--p2p-timeout", "30", *extra)
    link = await sender.next_event()
    assert link["event"] == "link"
    return sender, link


async def receive(server: str, code: str, out: Path, *extra: str) -> PeerRun:
    receiver = await Peer.start("receive", code, "-o", str(out), "--server", server, *FAST, *extra)
    return await receiver.finish()


async def transfer(
    server: str, path: Path, out: Path, *receiver_args: str
) -> tuple[PeerRun, PeerRun]:
    sender, link = await start_sender(server, path)
    received = await receive(server, link["code"], out, *receiver_args)
    sent = await sender.finish()
    return sent, received
