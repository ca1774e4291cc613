"""A few files against one file of the same total size, in process (#15 §5's 2 GiB case).

No network and no stack: the sender's source seals every record and the receiver's
partial file (one file) or partial tree (a few) opens, writes, fsyncs and verifies it,
then places the result; each case in a child process of its own, which reports its
peak RSS. The sources are sparse files (no disk for them, reads of zeros), so the
figure is the receiving side's disk path plus the crypto: the cheapest honest path
that still writes and verifies every byte. Peer to peer the same 2 GiB is
`bench_files.py --mib 2048` (under a minute a transfer on loopback since the SCTP
adapters of #14; 5-10 minutes when this bench was written).

    python bench/bench_files_inproc.py              # 2048 MiB over 4 files, and as one
    python bench/bench_files_inproc.py --mib 256
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._report import summary, write_section  # noqa: E402

MIB = 1 << 20
KEY = bytes(range(32))


def one_case(paths: list[Path], out: Path) -> dict[str, float]:
    """Send `paths` to `out` in this process; seconds, MB/s and peak RSS."""
    from transfer_core.protocol.progress import Via
    from transfer_core.sink import PartialFile
    from transfer_core.tree_source import open_source

    started = time.perf_counter()
    source = open_source(paths, KEY, 65536)
    hashed = time.perf_counter()
    partial = PartialFile.open(out / ".work", KEY, source.manifest_record)
    for index in range(source.layout.count):
        partial.accept(source.record(index), Via.P2P)
    partial.finalize(out)
    done = time.perf_counter()
    shutil.rmtree(out)
    return {"hash_s": hashed - started, "seconds": done - hashed,
            "mb_per_s": source.layout.size / 1e6 / (done - hashed),
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
        got = {"one": run_child([one], tmp / "out-one"), "few": run_child([few], tmp / "out-few")}
    print(json.dumps(got, indent=1))
    ratio = got["few"]["mb_per_s"] / got["one"]["mb_per_s"]
    write_section("files-inproc", f"""
## {args.mib} MiB over {args.parts} files against one file, in process (#15)

`bench/bench_files_inproc.py --mib {args.mib}`: source → receiver in one process each
(no network: records sealed, opened, written, fsynced, verified, placed), sparse
sources. MB/s over the transfer (hashing the source before it excluded).

| case | hash s | transfer s | MB/s | peak RSS (MiB) |
| --- | --- | --- | --- | --- |
| one file | {got['one']['hash_s']:.1f} | {got['one']['seconds']:.1f} \
| {got['one']['mb_per_s']:.1f} | {got['one']['peak_rss_mib']:.0f} |
| {args.parts} files | {got['few']['hash_s']:.1f} | {got['few']['seconds']:.1f} \
| {got['few']['mb_per_s']:.1f} | {got['few']['peak_rss_mib']:.0f} |
| ratio | | | {ratio:.2f} (target ≥ 0.95) | |

Load average at the end: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores.
""")
    summary("files_inproc_few_vs_one_mb_s_ratio", ratio, 0.95, True)
    summary("files_inproc_few_peak_rss_mib", got["few"]["peak_rss_mib"],
            round(got["one"]["peak_rss_mib"] * 1.1, 1), False)


if __name__ == "__main__":
    main()
