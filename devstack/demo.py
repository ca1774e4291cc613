"""`make demo`: the main job on the embedded local stack, as separate processes.

1. starts the local stack (moto + WebSocket gateway running the real handlers);
2. sends a generated 64 MiB file from one `sgraph-send` process to another, peer to peer;
3. verifies it byte for byte;
4. sends it again, kills the receiver mid-way, restarts it, and shows the resume.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from transfer_core.protocol.keys import derive_keys
from transfer_core.protocol.layout import OVERHEAD
from transfer_core.protocol.secret import TransferSecret
from transfer_core.sink import work_dir_for
from transfer_core.source import sha256_file as sha256
from transfer_core.webrtc.channel import PREFERRED_RECORD_SIZE

from .process import DevStackProcess

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "demo-output"
SIZE = 64 << 20
CLI = [sys.executable, "-m", "transfer_core.cli"]
console = Console()


def start_sender(server: str, path: Path) -> tuple[subprocess.Popen[str], dict[str, Any]]:
    proc = subprocess.Popen([*CLI, "send", str(path), "--server", server, "--json"],
                            stdout=subprocess.PIPE, text=True, cwd=ROOT)
    assert proc.stdout is not None
    link = json.loads(proc.stdout.readline())
    return proc, link


def finish_sender(proc: subprocess.Popen[str]) -> dict[str, Any]:
    out, _ = proc.communicate(timeout=600)
    events = [json.loads(line) for line in out.splitlines() if line.strip()]
    if proc.returncode != 0 or not events:
        raise SystemExit(f"the sender failed (exit {proc.returncode}): {events}")
    summary: dict[str, Any] = events[-1]
    return summary


def receive(server: str, code: str, out: Path) -> subprocess.Popen[str]:
    return subprocess.Popen([*CLI, "receive", code, "-o", str(out), "--server", server],
                            cwd=ROOT, text=True)


def held_chunks(work_dir: Path) -> int:
    try:
        from transfer_core.protocol.progress import ProgressRecord

        return len(ProgressRecord.load(work_dir / "progress.json").held)
    except Exception:  # not written yet
        return 0


def main() -> int:
    shutil.rmtree(OUT, ignore_errors=True)
    OUT.mkdir()
    source = OUT / "demo-64MiB.bin"
    console.rule("[bold]SGraph Send demo")
    console.print(f"Generating {SIZE >> 20} MiB of random data in {source} …")
    with open(source, "wb") as fh:
        for _ in range(SIZE >> 20):
            fh.write(os.urandom(1 << 20))
    expected = sha256(source)

    with DevStackProcess() as info:
        console.print(f"Local stack up: page {info.web_url}, WebSocket {info.ws_url},"
                      f" moto {info.aws_endpoint_url}")
        # the page's address, as for a deployment: the CLI reads its config.json, and
        # links point at the local page
        server = info.web_url

        console.rule("1. Peer-to-peer transfer")
        sender, link = start_sender(server, source)
        console.print(f"Sender process {sender.pid} shares the link: {link['link']}")
        started = time.perf_counter()
        receiver = receive(server, link["code"], OUT / "received")
        if receiver.wait(timeout=600) != 0:
            raise SystemExit("the receiver failed")
        sent = finish_sender(sender)
        first_time = time.perf_counter() - started
        ok = sha256(OUT / "received" / source.name) == expected
        console.print(f"Byte-identical: [bold]{'yes' if ok else 'NO'}[/]")

        console.rule("2. Resume: the receiver is killed mid-way and restarted")
        sender2, link2 = start_sender(server, source)
        out2 = OUT / "resumed"
        work_dir = work_dir_for(out2, derive_keys(TransferSecret.parse(link2["code"])).room_id)
        first = receive(server, link2["code"], out2)
        deadline = time.monotonic() + 120
        while held_chunks(work_dir) < 300 and time.monotonic() < deadline:
            time.sleep(0.05)
        held = held_chunks(work_dir)
        first.send_signal(signal.SIGKILL)
        first.wait()
        saved_mib = held * (PREFERRED_RECORD_SIZE - OVERHEAD) / 2**20
        console.print(f"\n[bold yellow]Killed the receiver[/] holding {held} chunks "
                      f"(≈{saved_mib:.1f} MiB saved on disk). Restarting it …")
        second = receive(server, link2["code"], out2)
        if second.wait(timeout=600) != 0:
            raise SystemExit("the restarted receiver failed")
        resumed = finish_sender(sender2)
        ok2 = sha256(out2 / source.name) == expected

    table = Table(title="What happened")
    for column in ("run", "path", "MB/s", "packet", "reconnects", "window", "re-sent",
                   "byte-identical"):
        table.add_column(column)
    for run, summary, same in (("plain", sent, ok), ("receiver killed + restarted", resumed, ok2)):
        # the packet size the sender's path-MTU search settled on (1,189: WebRTC's own);
        # the flow-control window, the most a restart can make the sender send again
        window = summary.get("window_bytes")
        table.add_row(run, summary["path"], f"{summary['mb_per_s']:.1f}",
                      f"{summary.get('packet_size') or '-'}", str(summary["reconnects"]),
                      f"{window / 2**20:.1f} MiB" if window else "-",
                      f"{summary['resent_bytes'] / 2**20:.1f} MiB", "yes" if same else "NO")
    console.print(table)
    console.print(f"First transfer took {first_time:.1f} s end to end, including process start.")
    console.print(f"Files are in {OUT}. Next: `make test`, or `sgraph-send devstack` and try"
                  " `sgraph-send send FILE --server <its URL>` yourself.")
    return 0 if ok and ok2 else 1


if __name__ == "__main__":
    sys.exit(main())
