"""Many files in one transfer (#15): two `sgraph-send` CLI processes through the local stack.

(a) 1,000 files of 4 KiB peer to peer, and through storage (moto S3 over HTTP: the
    sender stores, then the receiver fetches): files per second over the transfer (the
    summary's seconds: first record to the last verified, hashing excluded) and over the
    whole run (process start to exit: hashing, setup and placing the files included).
(b) a few files totalling N MiB against one file of N MiB, peer to peer, interleaved in
    the same run: the ratio of their MB/s (the receiver's summary) and each side's peak
    RSS (`ru_maxrss`, measured inside each CLI process).

    python bench/bench_files.py                 # N = 256 MiB over 4 files, 2 rounds
    python bench/bench_files.py --quick         # N = 64 MiB, 1 round
    python bench/bench_files.py --mib 2048 --rounds 1 --no-small [--store]
                                                # the issue's 2 GiB case (disk: 3 x N),
                                                # in its own section of docs/benchmarks.md

Targets (issue #15 §5): ≥ 500 files/s P2P, ≥ 200 files/s through S3, the few files at
≥ 0.95 x one file's MB/s, peak memory as for one file. The machine is shared: figures
move with its load; the ratio compares runs made next to each other.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._report import summary, write_section  # noqa: E402
from bench._rounds import round_order, settle_disk  # noqa: E402
from devstack.process import DevStackProcess  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
MIB = 1 << 20
FAST = ["--connect-timeout", "20", "--reconnect-grace", "20"]
# the CLI, reporting its own peak RSS (KiB) as a last JSON line
MEASURED_CLI = (
    "import json, resource, sys\n"
    "from transfer_core.cli import main\n"
    "code = main(sys.argv[1:])\n"
    "print(json.dumps({'event': 'rss', 'peak_kib':"
    " resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}), flush=True)\n"
    "sys.exit(code)\n"
)


class Run:
    def __init__(self, proc: asyncio.subprocess.Process, started: float) -> None:
        self.proc, self.started = proc, started
        self.events: list[dict[str, Any]] = []
        self.ended = 0.0

    @classmethod
    async def start(cls, *args: str, env: dict[str, str]) -> Run:
        started = time.perf_counter()
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-c", MEASURED_CLI, *args, "--json", cwd=ROOT, env=env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        return cls(proc, started)

    async def first(self, name: str) -> dict[str, Any]:
        assert self.proc.stdout is not None
        while True:
            line = await asyncio.wait_for(self.proc.stdout.readline(), 120)
            if not line:
                raise RuntimeError("the process ended early")
            event = json.loads(line)
            self.events.append(event)
            if event.get("event") == name:
                return event

    async def finish(self) -> Run:
        out, err = await asyncio.wait_for(self.proc.communicate(), 3600)
        self.ended = time.perf_counter()
        self.events += [json.loads(x) for x in out.decode().splitlines() if x.strip()]
        if self.proc.returncode:
            raise RuntimeError(f"exit {self.proc.returncode}: {err.decode()[-2000:]}")
        return self

    def event(self, name: str) -> dict[str, Any]:
        return [e for e in self.events if e.get("event") == name][-1]

    @property
    def wall(self) -> float:
        return self.ended - self.started


async def transfer(server: str, paths: list[Path], out: Path, state: Path,
                   store: bool = False) -> tuple[Run, Run]:
    env = {**os.environ, "SGRAPH_SEND_STATE_DIR": str(state)}
    sender = await Run.start("send", *map(str, paths), "--server", server, *FAST,
                             "--p2p-timeout", "0.5" if store else "60", env=env)
    link = await sender.first("link")
    if store:
        await sender.finish()
    receiver = await Run.start("receive", link["code"], "-o", str(out), "--server", server,
                               *FAST, env=env)
    await receiver.finish()
    if not store:
        await sender.finish()
    shutil.rmtree(out, ignore_errors=True)
    return sender, receiver


def write_random(path: Path, size: int) -> None:
    with open(path, "wb") as fh:
        left = size
        while left:
            block = os.urandom(min(left, 4 * MIB))
            fh.write(block)
            left -= len(block)


async def small_files(server: str, tmp: Path, count: int) -> dict[str, dict[str, float]]:
    src = tmp / "small"
    src.mkdir()
    for i in range(count):
        (src / f"{i:05d}.bin").write_bytes(os.urandom(4096))
    figures = {}
    for via, store in (("p2p", False), ("s3", True)):
        sender, receiver = await transfer(server, [src], tmp / f"out-{via}", tmp / "state", store)
        s, r = sender.event("summary"), receiver.event("summary")
        assert r["path"] == via, r["path"]
        moving = r["seconds"] + (s["seconds"] if store else 0.0)
        wall = receiver.wall + (sender.wall if store else 0.0)
        figures[via] = {"files_per_s": count / moving, "files_per_s_wall": count / wall,
                        "seconds": moving, "wall": wall}
    shutil.rmtree(src)
    return figures


async def few_vs_one(server: str, tmp: Path, mib: int, parts: int, rounds: int,
                     store: bool = False) -> dict[str, Any]:
    one = tmp / "one.bin"
    write_random(one, mib * MIB)
    few = tmp / "few"
    few.mkdir()
    each = mib * MIB // parts
    for i in range(parts):
        write_random(few / f"part-{i}.bin", each + (mib * MIB - each * parts if i == 0 else 0))
    rates: dict[str, list[float]] = {"one": [], "few": []}
    rss: dict[str, list[float]] = {"one": [], "few": []}
    ratios = []
    for round_no in range(rounds):
        got = {}
        for label in round_order(("one", "few"), round_no):
            path = one if label == "one" else few
            settle_disk()
            sender, receiver = await transfer(server, [path], tmp / f"out-{label}", tmp / "state",
                                              store)
            if store:  # stored, then fetched: the two runs' transfer seconds together
                seconds = sender.event("summary")["seconds"] + receiver.event("summary")["seconds"]
                got[label] = mib * MIB / 1e6 / seconds
            else:
                got[label] = receiver.event("summary")["mb_per_s"]
            rates[label].append(got[label])
            rss[label].append(max(sender.event("rss")["peak_kib"],
                                  receiver.event("rss")["peak_kib"]) / 1024)
        ratios.append(got["few"] / got["one"])
    return {"rates": rates, "rss": rss, "ratio": statistics.median(ratios)}


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="64 MiB, one round")
    parser.add_argument("--mib", type=int, help="MiB in (b) (default 256, --quick 64)")
    parser.add_argument("--parts", type=int, default=4, help="files in (b)")
    parser.add_argument("--rounds", type=int, help="rounds of (b) (default 2, --quick 1)")
    parser.add_argument("--files", type=int, default=1000, help="files in (a)")
    parser.add_argument("--no-small", action="store_true", help="only (b)")
    parser.add_argument("--store", action="store_true",
                        help="(b) through storage (stored, then fetched) instead of P2P")
    args = parser.parse_args()
    mib = args.mib or (64 if args.quick else 256)
    rounds = args.rounds or (1 if args.quick else 2)
    with DevStackProcess() as stack, tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        small = None if args.no_small else await small_files(stack.ws_url, tmp, args.files)
        few = await few_vs_one(stack.ws_url, tmp, mib, args.parts, rounds, args.store)
    med = {k: statistics.median(v) for k, v in few["rates"].items()}
    peak = {k: max(v) for k, v in few["rss"].items()}
    print(json.dumps({"small": small, "few": few}, indent=1))
    small_table = "" if small is None else f"""
`bench/bench_files.py{' --quick' if args.quick else ''}`: two CLI processes through the
local stack (moto S3 over HTTP for storage). Files per second over the transfer (first
record to last verified) and over the whole run (process start to exit, hashing and
placing the files included; through storage: the sender's run plus the receiver's).

| case | files/s (transfer) | files/s (whole run) | target |
| --- | --- | --- | --- |
| {args.files} files of 4 KiB, peer to peer | {small['p2p']['files_per_s']:.0f} \
| {small['p2p']['files_per_s_wall']:.0f} | ≥ 500 |
| {args.files} files of 4 KiB, through S3 | {small['s3']['files_per_s']:.0f} \
| {small['s3']['files_per_s_wall']:.0f} | ≥ 200 |
"""
    # a size of its own (the 2 GiB case) keeps the default run's section
    big = mib not in (64, 256)
    via = "through storage (moto S3: stored, then fetched)" if args.store else "peer to peer"
    write_section(f"files-{mib}-mib{'-s3' if args.store else ''}" if big else "files", f"""
## {f'{mib} MiB over a few files' if big else 'Many files in one transfer'} (#15)
{small_table}
`bench/bench_files.py{' '.join([''] + sys.argv[1:])}`: {mib} MiB {via}, as
{args.parts} files and as one file, interleaved ({rounds} round(s); the order reversed every
other round and the disk's dirty pages written back before each transfer):

| case | MB/s (median) | peak RSS, either side (MiB) |
| --- | --- | --- |
| one file | {med['one']:.1f} | {peak['one']:.0f} |
| {args.parts} files | {med['few']:.1f} | {peak['few']:.0f} |
| ratio (median of per-round ratios) | {few['ratio']:.2f} (target ≥ 0.95) | |

Load average at the end: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores (the files/s
and MB/s move with it; the ratio compares runs made next to each other).
""")
    if small is not None:
        summary("files_p2p_files_per_s", small["p2p"]["files_per_s"], 500.0, True)
        summary("files_s3_files_per_s", small["s3"]["files_per_s"], 200.0, True)
    summary("files_few_vs_one_mb_s_ratio", few["ratio"], 0.95, True)
    summary("files_few_peak_rss_mib", peak["few"], round(peak["one"] * 1.1, 1), False)


if __name__ == "__main__":
    asyncio.run(main())
