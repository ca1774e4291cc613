"""Re-sent bytes after a receiver restart (#11): CLI processes through the local stack.

A sender and a receiver (`sgraph-send` processes) start a peer-to-peer transfer;
at a seeded random point the receiver is SIGKILLed and run again; the sender's
`--json` summary says how many record bytes it sent twice. The promise is at most
one flow-control window (`transfer_core/transport/window.py`): the sender never has
more than that sent and unacknowledged, and the receiver acknowledges only records it
has checkpointed.

    python bench/p2p_restart.py [--runs 5] [--mib 64] [--seed N]
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._report import summary, write_section  # noqa: E402
from devstack.process import DevStackProcess  # noqa: E402
from transfer_core.protocol.keys import derive_keys  # noqa: E402
from transfer_core.protocol.ranges import RangeSet  # noqa: E402
from transfer_core.protocol.secret import TransferSecret  # noqa: E402
from transfer_core.sink import work_dir_for  # noqa: E402
from transfer_core.transport.window import FLOW_WINDOW_BYTES as FLOW_WINDOW  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
CLI = [sys.executable, "-m", "transfer_core.cli"]
MiB = 1 << 20


def _held(progress: Path) -> int:
    try:
        doc = json.loads(progress.read_text())
        return len(RangeSet.decode(base64.b64decode(doc["via"]["p2p"])))
    except (OSError, ValueError, KeyError):
        return 0


def restart_once(ws_url: str, path: Path, out: Path, kill_fraction: float, env: dict[str, str]
                 ) -> int:
    """One transfer with the receiver killed once `kill_fraction` of it is saved; the
    sender's re-sent bytes."""
    common = ["--server", ws_url, "--json", "--reconnect-grace", "60"]
    sender = subprocess.Popen([*CLI, "send", str(path), *common, "--p2p-timeout", "60"],
                              stdout=subprocess.PIPE, text=True, cwd=ROOT, env=env)
    assert sender.stdout is not None
    code = json.loads(sender.stdout.readline())["code"]
    progress = work_dir_for(out, derive_keys(TransferSecret.parse(code)).room_id) / "progress.json"
    records = -(-path.stat().st_size // (64 * 1024 - 48))
    receive = [*CLI, "receive", code, "-o", str(out), *common, "--force"]
    first = subprocess.Popen(receive, stdout=subprocess.DEVNULL, cwd=ROOT, env=env)
    deadline = time.monotonic() + 600
    while _held(progress) < kill_fraction * records and time.monotonic() < deadline:
        time.sleep(0.005)
    first.kill()
    first.wait()
    again = subprocess.run(receive, capture_output=True, text=True, cwd=ROOT, env=env,
                           timeout=1200)
    s_out, _ = sender.communicate(timeout=120)
    sent = json.loads(s_out.splitlines()[-1])
    if again.returncode != 0 or sent.get("event") != "summary":
        raise RuntimeError(f"restart run failed: {again.stdout[-500:]} / {sent}")
    (out / path.name).unlink()
    return int(sent["resent_bytes"])


def measure_restarts(runs: int, size: int, seed: int) -> list[int]:
    rng = random.Random(seed)
    with tempfile.TemporaryDirectory() as tmp, DevStackProcess() as info:
        path = Path(tmp) / "restart.bin"
        path.write_bytes(os.urandom(size))
        env = {**os.environ, "SGRAPH_SEND_STATE_DIR": str(Path(tmp) / "state")}
        return [restart_once(info.ws_url, path, Path(tmp) / "out", rng.uniform(0.2, 0.7), env)
                for _ in range(runs)]


def restart_section(resent: list[int], size: int, seed: int, load: float) -> str:
    rows = "\n".join(f"| {i + 1} | {b / MiB:.2f} |" for i, b in enumerate(resent))
    return (
        "## Re-sent bytes after a receiver restart\n\n"
        f"`bench/p2p_restart.py`: a {size // MiB} MiB transfer between CLI processes on the"
        " local stack; the receiver is SIGKILLed at a random point (seed"
        f" {seed}, 20-70 % saved) and run again. Target: at most one flow-control window"
        f" ({FLOW_WINDOW / MiB:.0f} MiB where it starts, and on loopback at or near it: it"
        " grows only on a long path, to at most 8 MiB; the sender never has more than it"
        " sent and not acknowledged, and the receiver acknowledges only what it"
        " checkpointed, every 8 records, 50 ms, or 20 ms idle).\n\n"
        "| run | re-sent MiB |\n| --- | --- |\n"
        f"{rows}\n\n"
        f"Median {statistics.median(resent) / MiB:.2f} MiB, max {max(resent) / MiB:.2f} MiB,"
        f" with the machine's load average at {load:.1f}. The window is a bound, not an"
        " average: a run cannot exceed it however loaded the machine.\n"
    )


def run_restart_bench(runs: int, size: int, seed: int, write: bool) -> None:
    resent = measure_restarts(runs, size, seed)
    load = os.getloadavg()[0]
    print(f"re-sent after a receiver restart (seed {seed}): "
          + ", ".join(f"{b / MiB:.2f}" for b in resent) + " MiB")
    if write:
        write_section("bench_p2p_restart", restart_section(resent, size, seed, load))
    summary("p2p_resent_mib_after_receiver_restart", statistics.median(resent) / MiB,
            FLOW_WINDOW / MiB, False)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--mib", type=int, default=64)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--no-write", action="store_true", help="do not touch docs/benchmarks.md")
    args = parser.parse_args(argv)
    seed = args.seed if args.seed is not None else random.randrange(1 << 30)
    run_restart_bench(args.runs, args.mib * MiB, seed, not args.no_write)


if __name__ == "__main__":
    main()
