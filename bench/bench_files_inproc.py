"""A few files against one file of the same total size, in process (#15 §5's 2 GiB case).

No network and no stack: the sender's source seals every record and the receiver's
partial file (one file) or partial tree (a few) opens, writes, fsyncs and verifies it,
then places the result; each case in a child process of its own, which reports its
peak RSS. The sources are sparse files (no disk for them, reads of zeros), so the
figure is the receiving side's disk path plus the crypto: the cheapest honest path
that still writes and verifies every byte. Peer to peer the same 2 GiB is
`bench_files.py --mib 2048` (under a minute a transfer on loopback since the SCTP
adapters of #14; 5-10 minutes when this bench was written).

    python bench/bench_files_inproc.py              # 2048 MiB over 4 files, and as one, 4 rounds
    python bench/bench_files_inproc.py --mib 256 --rounds 2
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._report import summary, write_section  # noqa: E402
from bench._rounds import round_order, settle_disk  # noqa: E402

MIB = 1 << 20
KEY = bytes(range(32))


def one_case(paths: list[Path], out: Path) -> dict[str, float]:
    """Send `paths` to `out` in this process; seconds, MB/s, MB per CPU-second, peak RSS."""
    from transfer_core.protocol.progress import Via
    from transfer_core.sink import PartialFile
    from transfer_core.tree_source import open_source

    started = time.perf_counter()
    source = open_source(paths, KEY, 65536)
    hashed = time.perf_counter()
    cpu_before = time.process_time()  # every thread's, fsyncs in the writer thread included
    partial = PartialFile.open(out / ".work", KEY, source.manifest_record)
    for index in range(source.layout.count):
        partial.accept(source.record(index), Via.P2P)
    partial.finalize(out)
    done = time.perf_counter()
    cpu_s = time.process_time() - cpu_before
    shutil.rmtree(out)
    return {"hash_s": hashed - started, "seconds": done - hashed,
            "mb_per_s": source.layout.size / 1e6 / (done - hashed),
            "mb_per_cpu_s": source.layout.size / 1e6 / cpu_s,
            "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def run_child(paths: list[Path], out: Path) -> dict[str, float]:
    code = ("import json, sys; from pathlib import Path; sys.path.insert(0, sys.argv[1]);"
            "from bench.bench_files_inproc import one_case;"
            "print(json.dumps(one_case([Path(p) for p in sys.argv[3:]], Path(sys.argv[2]))))")
    root = str(Path(__file__).resolve().parents[1])
    done = subprocess.run([sys.executable, "-c", code, root, str(out), *map(str, paths)],
                          check=True, capture_output=True, text=True, timeout=3600)
    return json.loads(done.stdout.splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--mib", type=int, default=2048)
    parser.add_argument("--parts", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=4, help="interleaved rounds")
    args = parser.parse_args()
    size = args.mib * MIB
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        one = tmp / "one.bin"
        one.touch()
        os.truncate(one, size)
        few = tmp / "few"
        few.mkdir()
        each = size // args.parts
        for i in range(args.parts):
            part = few / f"part-{i}.bin"
            part.touch()
            os.truncate(part, each + (size - each * args.parts if i == 0 else 0))
        runs: dict[str, list[dict[str, float]]] = {"one": [], "few": []}
        ratios, cpu_ratios = [], []
        for round_no in range(args.rounds):
            got = {}
            for case in round_order(("one", "few"), round_no):
                settle_disk()
                got[case] = run_child([one] if case == "one" else [few], tmp / f"out-{case}")
                runs[case].append(got[case])
            ratios.append(got["few"]["mb_per_s"] / got["one"]["mb_per_s"])
            cpu_ratios.append(got["few"]["mb_per_cpu_s"] / got["one"]["mb_per_cpu_s"])
            print(f"round {round_no + 1}: one {got['one']['mb_per_s']:.1f} MB/s, "
                  f"{args.parts} files {got['few']['mb_per_s']:.1f} MB/s, "
                  f"ratio {ratios[-1]:.2f} (by CPU {cpu_ratios[-1]:.2f})", flush=True)
    med = {case: {key: statistics.median(run[key] for run in case_runs)
                  for key in ("hash_s", "seconds", "mb_per_s", "mb_per_cpu_s")}
           for case, case_runs in runs.items()}
    peak = {case: max(run["peak_rss_mib"] for run in case_runs)
            for case, case_runs in runs.items()}
    ratio, cpu_ratio = statistics.median(ratios), statistics.median(cpu_ratios)
    each_round = ", ".join(f"{r:.2f}" for r in ratios)
    print(json.dumps({"median": med, "peak_rss_mib": peak, "ratios": ratios}, indent=1))
    write_section("files-inproc", f"""
## {args.mib} MiB over {args.parts} files against one file, in process (#15)

`bench/bench_files_inproc.py --mib {args.mib}`: source → receiver in one process each
(no network: records sealed, opened, written, fsynced, verified, placed), sparse
sources. MB/s over the transfer (hashing the source before it excluded). Medians of
{args.rounds} interleaved rounds, the order reversed every other round and the disk's
dirty pages written back before each case, so that neither case always runs after
the other's writes; the ratio is the median of the per-round ratios ({each_round}).
The transfer is bound by one core (CPU time ≈ wall time), so on a shared host the MB/s
move with the neighbours; MB per CPU-second (every thread of the process) is beside them.

| case | hash s | transfer s | MB/s | MB per CPU-s | peak RSS (MiB) |
| --- | --- | --- | --- | --- | --- |
| one file | {med['one']['hash_s']:.1f} | {med['one']['seconds']:.1f} \
| {med['one']['mb_per_s']:.1f} | {med['one']['mb_per_cpu_s']:.1f} | {peak['one']:.0f} |
| {args.parts} files | {med['few']['hash_s']:.1f} | {med['few']['seconds']:.1f} \
| {med['few']['mb_per_s']:.1f} | {med['few']['mb_per_cpu_s']:.1f} | {peak['few']:.0f} |
| ratio | | | {ratio:.2f} (target ≥ 0.95) | {cpu_ratio:.2f} | |

Load average at the end: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores.
""")
    summary("files_inproc_few_vs_one_mb_s_ratio", ratio, 0.95, True)
    summary("files_inproc_few_vs_one_mb_per_cpu_s_ratio", cpu_ratio, 0.95, True)
    summary("files_inproc_few_peak_rss_mib", peak["few"], round(peak["one"] * 1.1, 1), False)


if __name__ == "__main__":
    main()
