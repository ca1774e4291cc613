"""Speed over a slow, lossy path: the network lab, CLI to CLI beside raw aiortc.

Two LANs behind endpoint-independent NAT (so the path is direct, host → srflx),
the stack and coturn on the lab's internet (tests/lab). LAN 1's router runs the
user-space impairment (tests/lab/impair.py: this kernel has no netem) with a
one-way delay of RTT/2 each way and the given loss per packet, per direction. At
each point, in the same run: our engine (two `sgraph-send` processes, encrypted
records, files on disk) and raw aiortc (one data channel, 64 KiB messages, no
crypto, no disk). Reports MB/s, the CPU the peers used per MB (whole processes,
start-up included), the impairment's own CPU per MB (never the peers' cost), and
the bound rwnd / RTT that aiortc's own advertised receive window (1 MiB) puts on a
raw aiortc pair; the engine advertises up to 8 MiB (what its socket holds) and grows
its flow-control window on a long path (docs/protocol.md, Revision 2.6), so it may pass that bound.
`--trace DIR` adds, per run, an SCTP sender trace of each peer and each peer's UDP
receive-buffer drops (bench/sctp_trace/); `--points 80:0.01,80:0 --repeat 2` runs
only those points (and never writes the table); `--ack SPEC` runs the engine with
another acknowledgement policy and `--also-ack SPEC` adds, per run, an engine run with
one (e.g. `--also-ack 2:0.2:0:0`, session 4's SACK/2 throughout), both never written;
`--baseline DIR` adds, per run, an engine run of another checkout (e.g. a worktree of
main), interleaved in the same conditions, and prints the comparison (never written).
`--mtu 9000` builds the lab with jumbo-frame links (its own section, `bench_wan_jumbo`):
the same path with a sixth of the packets, to tell the per-packet CPU of two peers and
the impairment on two cores apart from what the window and the RTT allow.

    sudo .venv/bin/python bench/bench_wan.py [--quick] [--no-write]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench._report import summary, write_section  # noqa: E402
from tests.lab.netlab import Lab  # noqa: E402
from tests.lab.parties import LAB_FAST, internet, start_peer  # noqa: E402

RWND = 1 << 20
"""aiortc's own advertised receive window (aiortc.rtcsctptransport: 1 MiB; SACKs show
991736 bytes free once data flows): raw aiortc's bound. The engine advertises up to
8 MiB (transfer_core/webrtc/sctp_rwnd.py)."""


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def machine_ticks() -> tuple[int, int]:
    """(busy, all) clock ticks of every core since boot (/proc/stat): whether a run had
    the whole machine, whoever used it (peers, the impairment, the lab's kernel work)."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle, iowait
    return sum(fields) - idle, sum(fields)


@dataclass
class Point:
    rtt_ms: int
    loss: float
    mtu: int = 1500
    """Every lab link's MTU (`--mtu` adds the points again over its links)."""
    engine_mb_s: float = 0.0
    engine_cpu_per_mb: float = 0.0
    engine_route: str = ""
    engine_packet: int | None = None
    """The SCTP packet size the engine's sender settled on (path-MTU discovery)."""
    engine_busy: float = 0.0
    """The share of the machine's cores busy during the engine's run (1.0: all)."""
    raw_mb_s: float = 0.0
    raw_cpu_per_mb: float = 0.0
    impair_cpu_per_mb: float = 0.0
    runs: list[tuple[float, float, float | None]] = field(default_factory=list)
    """MB/s of each repeat: raw aiortc, the engine, the engine with `--also-ack`."""

    ratio: float = 0.0
    """Engine / raw: the median of each repeat's own ratio (they ran back to back)."""

    def settle(self) -> None:
        """After the repeats: the MB/s are their medians (one run's loss pattern is
        chance: at 1 % a single run moves by about ±12 %), the ratio per repeat."""
        if not self.runs:
            return
        self.raw_mb_s = statistics.median(r[0] for r in self.runs)
        self.engine_mb_s = statistics.median(r[1] for r in self.runs)
        self.ratio = statistics.median(r[1] / r[0] for r in self.runs if r[0])

    @property
    def bound_mb_s(self) -> float | None:
        return RWND / 1e6 / (self.rtt_ms / 1000) if self.rtt_ms else None


async def engine_run(lab: Lab, net, work: Path, size: int,
                     checkout: Path = ROOT) -> tuple[float, float, str, int | None, float]:
    source = work / "payload.bin"
    if not source.exists() or source.stat().st_size != size:
        source.write_bytes(os.urandom(size))
    out = work / "out"
    shutil.rmtree(out, ignore_errors=True)
    cpu = children_cpu()
    ticks = machine_ticks()
    sender = await start_peer(lab, lab.lans[0].hosts[0], "send", str(source), "--server",
                              net.url, "--ice", "any", *LAB_FAST, "--p2p-timeout", "60",
                              "--no-storage", cwd=checkout)
    link = await sender.next_event(60)
    receiver = await start_peer(lab, lab.lans[1].hosts[0], "receive", link["code"], "-o",
                                str(out), "--server", net.url, "--ice", "any", *LAB_FAST,
                                "--no-storage", cwd=checkout)
    received = await receiver.finish(900)
    if received.code != 0:
        # a sender run with --no-storage waits for a receiver that is gone: stop it and
        # say why the receiver ended, instead of waiting out the sender's timeout
        await sender.kill()
        raise RuntimeError(f"the engine's receiver exited {received.code}:\n"
                           f"{received.stderr[-3000:]}")
    sent = await sender.finish(120)
    assert sent.code == 0, sent.stderr[-2000:]
    doc = received.event("summary")
    busy, every = (b - a for a, b in zip(ticks, machine_ticks(), strict=True))
    return (float(doc["mb_per_s"]), (children_cpu() - cpu) / (size / 1e6), str(doc["route"]),
            sent.event("summary").get("packet_size"), busy / every if every else 0.0)


async def raw_run(lab: Lab, net, work: Path, size: int) -> tuple[float, float]:
    folder = Path(tempfile.mkdtemp(dir=work))
    cpu = children_cpu()
    argv = [sys.executable, str(ROOT / "bench" / "wan_raw_peer.py")]
    procs = [
        await asyncio.create_subprocess_exec(
            *lab.command(ns, [*argv, role, str(folder), str(size), net.info["stun_url"]]),
            cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            env={**os.environ, "PYTHONPATH": os.pathsep.join(
                filter(None, (os.environ.get("PYTHONPATH"), str(ROOT))))},
        )
        for ns, role in ((lab.lans[0].hosts[0], "send"), (lab.lans[1].hosts[0], "receive"))
    ]
    outs = await asyncio.wait_for(asyncio.gather(*(p.communicate() for p in procs)), 900)
    receiver_out = outs[1][0].decode().strip().splitlines()
    assert receiver_out, outs[1][1].decode()[-2000:]
    doc = json.loads(receiver_out[-1])
    return float(doc["mb_per_s"]), (children_cpu() - cpu) / (size / 1e6)


async def browser_run(lab: Lab, net, work: Path, size: int) -> tuple[float, str]:
    """Chromium (in LAN 1) sends to a CLI (in LAN 2): the CLI's MB/s and path."""
    source = work / "browser.bin"
    source.write_bytes(os.urandom(size))
    page = await asyncio.create_subprocess_exec(
        *lab.command(lab.lans[0].hosts[0], [
            sys.executable, "-m", "tests.lab.browser_peer", "send",
            net.info["web_url"] + "?p2p=120", str(source)]),
        cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    try:
        assert page.stdout is not None
        line = await asyncio.wait_for(page.stdout.readline(), 120)
        assert line, "the page printed no link"
        receiver = await start_peer(lab, lab.lans[1].hosts[0], "receive",
                                    json.loads(line)["link"], "-o", str(work / "bout"),
                                    "--server", net.url, "--ice", "any", *LAB_FAST)
        received = await receiver.finish(900)
    finally:
        if page.returncode is None:
            page.kill()
        await page.communicate()
    assert received.code == 0, received.stderr[-2000:]
    doc = received.event("summary")
    return float(doc["mb_per_s"]), str(doc["route"])


async def measure_browser(size: int, rtt_ms: int = 40) -> tuple[float, str, float]:
    """Chromium to CLI at `rtt_ms`: MB/s, path, the impairment's CPU s per MB."""
    lab = Lab.build([("eim", 1), ("eim", 1)])
    work = Path(tempfile.mkdtemp(prefix="bench-wan-"))
    try:
        with internet(lab, work) as net:
            impairment = lab.impair(lab.lans[0], delay_ms=rtt_ms / 2)
            try:
                mb_s, route = await browser_run(lab, net, work, size)
            finally:
                stats = impairment.stop()
        return mb_s, route, stats.get("cpu_s", 0.0) / (2 * size / 1e6)
    finally:
        lab.close()
        shutil.rmtree(work, ignore_errors=True)


TRACE_PATH = ROOT / "bench" / "sctp_trace"


def traced(trace: Path | None, name: str) -> Path | None:
    """With --trace, the folder each peer of the next run writes its SCTP trace into
    (bench/sctp_trace/sitecustomize.py, loaded through PYTHONPATH)."""
    if trace is None:
        return None
    folder = trace / name
    folder.mkdir(parents=True, exist_ok=True)
    os.chmod(folder, 0o777)
    os.environ["SCTP_TRACE_DIR"] = str(folder)
    os.environ["PYTHONPATH"] = os.pathsep.join([str(TRACE_PATH), str(ROOT)])
    return folder


def print_traces(folder: Path | None, lab: Lab | None = None) -> None:
    for path in sorted(folder.glob("*.json")) if folder else ():
        print(f"  sctp sender trace: {path.read_text()}", flush=True)
    if folder is not None and lab is not None:
        # datagrams the kernel dropped at a peer's full UDP receive buffer (per namespace)
        for lan in lab.lans:
            ns = lan.hosts[0]
            snmp = subprocess.run(lab.command(ns, ["cat", "/proc/net/snmp"]),
                                  capture_output=True, text=True).stdout.splitlines()
            udp = [line.split()[1:] for line in snmp if line.startswith("Udp:")]
            counters = dict(zip(udp[0], udp[1], strict=True)) if len(udp) == 2 else {}
            print(f"  udp {ns}: InDatagrams {counters.get('InDatagrams')} RcvbufErrors "
                  f"{counters.get('RcvbufErrors')}", flush=True)


def ack_experiment(spec: str | None) -> None:
    """Peers started from now on run the engine with the acknowledgement policy `spec`
    (`AckPolicy.parse`; bench/sctp_trace/sitecustomize.py), or its default when None."""
    if spec is None:
        os.environ.pop("SCTP_TRACE_ACK", None)
        return
    os.environ["SCTP_TRACE_ACK"] = spec
    paths = os.environ.get("PYTHONPATH", "").split(os.pathsep)
    if str(TRACE_PATH) not in paths:
        os.environ["PYTHONPATH"] = os.pathsep.join([str(TRACE_PATH), str(ROOT)])


async def measure(points: list[Point], size: int, trace: Path | None = None,
                  repeat: int = 1, ack: str | None = None, also_ack: str | None = None,
                  baseline: Path | None = None, mtu: int | None = None) -> None:
    lab = Lab.build([("eim", 1), ("eim", 1)], mtu=None if mtu in (None, 1500) else mtu)
    work = Path(tempfile.mkdtemp(prefix="bench-wan-"))
    os.environ["SGRAPH_SEND_STATE_DIR"] = str(work / "state")
    try:
        with internet(lab, work) as net:
            for point in points:
                impairment = (lab.impair(lab.lans[0], delay_ms=point.rtt_ms / 2,
                                         loss=point.loss)
                              if point.rtt_ms or point.loss else None)
                try:
                    for n in range(repeat):
                        name = f"rtt{point.rtt_ms}-loss{point.loss:g}-{n}"
                        folder = traced(trace, f"{name}-raw")
                        point.raw_mb_s, point.raw_cpu_per_mb = await raw_run(lab, net, work, size)
                        print(f"  raw {name}: {point.raw_mb_s:.2f} MB/s", flush=True)
                        print_traces(folder, lab)
                        folder = traced(trace, f"{name}-engine")
                        (point.engine_mb_s, point.engine_cpu_per_mb, point.engine_route,
                         point.engine_packet, point.engine_busy) = await engine_run(
                            lab, net, work, size)
                        print(f"  engine {name}: {point.engine_mb_s:.2f} MB/s", flush=True)
                        print_traces(folder, lab)
                        if also_ack is not None:
                            # the same engine with another acknowledgement policy, in
                            # the same conditions (never in the table)
                            folder = traced(trace, f"{name}-engine-ack")
                            ack_experiment(also_ack)
                            try:
                                other, *_ = await engine_run(lab, net, work, size)
                            finally:
                                ack_experiment(ack)
                            print(f"  engine[ack {also_ack}] {name}: {other:.2f} MB/s",
                                  flush=True)
                            print_traces(folder, lab)
                        if baseline is not None:
                            # the other checkout's engine, in the same conditions
                            folder = traced(trace, f"{name}-baseline")
                            other, *_ = await engine_run(lab, net, work, size, baseline)
                            print(f"  baseline {name}: {other:.2f} MB/s", flush=True)
                            print_traces(folder, lab)
                        point.runs.append((point.raw_mb_s, point.engine_mb_s,
                                           other if also_ack or baseline else None))
                finally:
                    if impairment is not None:
                        stats = impairment.stop()
                        point.impair_cpu_per_mb = stats.get("cpu_s", 0.0) / (2 * size / 1e6)
                        print(f"  impairment: {stats}", flush=True)
                point.settle()
                print(f"RTT {point.rtt_ms:>3} ms loss {point.loss:.0%}: engine "
                      f"{point.engine_mb_s:.2f} MB/s ({point.engine_route}, "
                      f"{point.engine_packet}-byte packets), raw aiortc "
                      f"{point.raw_mb_s:.2f} MB/s", flush=True)
    finally:
        lab.close()
        shutil.rmtree(work, ignore_errors=True)


def section(points: list[Point], size: int, mtu: int | None = None) -> str:
    rows = [
        "| links | RTT | loss | engine MB/s | raw aiortc MB/s | engine / raw |"
        " aiortc rwnd/RTT bound MB/s | engine / bound | engine CPU s/MB | raw CPU s/MB |"
        " impairment CPU s/MB | path | engine packet | machine busy (engine run) |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for p in points:
        bound = p.bound_mb_s
        rows.append(
            f"| {p.mtu:,} B | {p.rtt_ms} ms | {p.loss:.0%} | {p.engine_mb_s:.2f} | "
            f"{p.raw_mb_s:.2f} | "
            f"{p.ratio or p.engine_mb_s / p.raw_mb_s:.2f}× | {f'{bound:.1f}' if bound else '—'} | "
            f"{f'{p.engine_mb_s / bound:.2f}×' if bound else '—'} | "
            f"{p.engine_cpu_per_mb:.3f} | {p.raw_cpu_per_mb:.3f} | "
            f"{p.impair_cpu_per_mb:.4f} | {p.engine_route} | {p.engine_packet or '—'} | "
            f"{p.engine_busy:.0%} |"
        )
    title = ("## WAN: speed over a slow, lossy path (`bench/bench_wan.py`)" if mtu is None else
             f"## WAN over Ethernet's 1,500-byte links and {mtu:,}-byte (jumbo) links, same"
             f" run (`bench/bench_wan.py --mtu {mtu}`)")
    jumbo = [] if mtu is None else [
        f"Each point runs over a lab of 1,500-byte links, then over a lab whose every link"
        f" carries {mtu:,}-byte packets: the same path with a sixth of the packets. Where "
        "the first is CPU-bound (machine busy near 100 %) and the second is not, what holds "
        "the first back is the per-packet work of two peers and the impairment on this "
        "machine's two cores, not the window or the RTT.",
        "",
    ]
    return "\n".join([
        title,
        "",
        *jumbo,
        f"{size >> 20} MiB per run, {max(len(p.runs) for p in points)} repeat(s) per point"
        " (MB/s: medians; engine / raw: the median of each repeat's own ratio),"
        " CLI to CLI through the network lab (two LANs behind "
        "endpoint-independent NAT: a direct path), beside raw aiortc (no crypto, no disk) "
        "in the same conditions and the same run. Delay and loss come from a user-space "
        "forwarder over TUN in LAN 1's router (RTT/2 each way; loss per packet, per "
        "direction); its CPU is reported apart (per MB of file, both directions counted). "
        "Peer CPU is whole processes, start-up included. *Machine busy*: the share of "
        "both cores in use during the engine's run, by anyone (the peers, the impairment, "
        "the lab's kernel forwarding and NAT, the stack): near 100 % the run had the "
        "whole machine and CPU is what bounds it. The bound is aiortc's own "
        f"advertised receive window ({RWND >> 10} KiB) divided by the RTT: what a sender "
        "that respects the window can reach, and where aiortc's slow start ends, so raw "
        "aiortc's bound (aiortc's own sender never reads the peer's window). The engine "
        "advertises up to 8 MiB (what its socket holds) and its flow-control window "
        "grows from 2 MiB to at most 8 MiB "
        "on a long path (docs/protocol.md, Revision 2.6), so it can pass the bound; at "
        "24 MiB much of a long path's run is the slow start. What limits each point, "
        "with SCTP traces (`--trace`): docs/networking.md §6.",
        "",
        *rows,
        "",
        f"Load average when written: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores. "
        "Under heavy load aiortc is CPU-starved and stalls on its 1 s minimum "
        "retransmission timeout, so absolute figures drop far below the idle machine's; "
        "compare engine and raw within one run.",
    ])


def other_rows(points: list[Point], other: str) -> list[str]:
    """Raw aiortc, the engine and `other` (a third contender run beside them), from
    interleaved runs: each run's MB/s, and the median of each run's own ratio."""

    def median_ratio(runs: list[tuple[float, float, float | None]], a: int, b: int) -> str:
        ratios = [r[a] / r[b] for r in runs if r[a] and r[b]]  # type: ignore[operator]
        return f"{statistics.median(ratios):.2f}×" if ratios else "—"

    rows = [
        f"| RTT | loss | runs | raw MB/s | engine MB/s | {other} MB/s | engine / raw | "
        f"{other} / raw | engine / {other} |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for p in points:
        cols = list(zip(*p.runs, strict=True))
        rows.append(
            f"| {p.rtt_ms} ms | {p.loss:.0%} | {len(p.runs)} | "
            + " | ".join(", ".join(f"{v:.2f}" for v in col) for col in cols)
            + f" | {median_ratio(p.runs, 1, 0)} | {median_ratio(p.runs, 2, 0)} | "
            f"{median_ratio(p.runs, 1, 2)} |"
        )
    return rows


def ack_section(points: list[Point], size: int, spec: str) -> str:
    """The engine's acknowledgement policy against another (`--also-ack spec`) and raw
    aiortc, from interleaved runs: the median of each run's own ratio."""
    rows = other_rows(points, f"engine [ack {spec}]")
    return "\n".join([
        "## WAN: the acknowledgement policy (`bench/bench_wan.py --also-ack`)",
        "",
        f"{size >> 20} MiB per run through the lab, as above. Each repeat runs raw aiortc, "
        f"the engine as it ships (`AckPolicy()`: every packet for the sender's slow "
        f"start until the receiver first falls behind for 50 ms, after a loss and "
        f"whenever no further datagram waits in its socket, every third one once it has "
        f"been behind for 50 ms on datagrams of at most 1,500 bytes, every second one "
        f"otherwise) and the engine with "
        f"`AckPolicy.parse(\"{spec}\")`, one after the other; ratios are the median of "
        "each repeat's own ratio. See docs/networking.md §6.",
        "",
        *rows,
        "",
        f"Load average when written: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores "
        "(a loaded machine: compare within a row).",
    ])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="8 MiB, fewer points")
    parser.add_argument("--mib", type=int, help="MiB per run (default 24, --quick 8)")
    parser.add_argument("--no-write", action="store_true", help="do not touch docs/benchmarks.md")
    parser.add_argument("--browser-only", action="store_true",
                        help="only Chromium to CLI at RTT 40 ms")
    parser.add_argument("--points", help="RTT:loss points, e.g. 80:0.01,80:0 (default: all)")
    parser.add_argument("--repeat", type=int, default=1,
                        help="runs per point (the table shows medians)")
    parser.add_argument("--trace", type=Path,
                        help="folder for an SCTP sender trace per run (bench/sctp_trace)")
    parser.add_argument("--ack",
                        metavar="EVERY:MAX_DELAY[:AFTER_LOSS[:IDLE_ACK[:EVERY_SMALL[:START_BYTES]]]]",
                        help="the engine's acknowledgement policy instead of its default "
                             "(transfer_core.webrtc.sctp_ack.AckPolicy.parse), e.g. 1:0.2 "
                             "(every packet), 2:0.2:0:0:2:0 (every second packet always) or "
                             "2:0.2:64:1:3:0 (as shipped, but no slow-start SACKs)")
    parser.add_argument("--also-ack", metavar="SPEC",
                        help="per run, one more engine run with this policy; prints the "
                             "comparison (and with --write-ack writes it)")
    parser.add_argument("--baseline", type=Path, metavar="DIR",
                        help="per run, one more engine run from the checkout DIR (e.g. "
                             "`git worktree add --detach DIR main`); prints the comparison")
    parser.add_argument("--mtu", type=int, metavar="BYTES",
                        help="every lab link's MTU (e.g. 9000, jumbo frames); written to its"
                             " own section, also with --points")
    parser.add_argument("--write-ack", action="store_true",
                        help="with --also-ack: write the comparison to docs/benchmarks.md")
    args = parser.parse_args(argv)
    if args.baseline and args.also_ack:
        parser.error("--baseline and --also-ack each add a third run: pick one")
    if args.baseline:
        if not (args.baseline / "transfer_core" / "cli.py").is_file():
            parser.error(f"--baseline {args.baseline}: not a checkout of this project")
        args.baseline = args.baseline.resolve()
        args.no_write = True  # the table shows one engine
    if args.ack or args.also_ack:
        from transfer_core.webrtc.sctp_ack import AckPolicy

        for spec in filter(None, (args.ack, args.also_ack)):
            AckPolicy.parse(spec)  # a bad spec fails here, not in every peer
        args.no_write = True  # the table shows the engine as it ships
    ack_experiment(args.ack)
    size = (args.mib or (8 if args.quick else 24)) << 20
    if args.browser_only:
        mb_s, route, impair_cpu = asyncio.run(measure_browser(size))
        text = (
            "## WAN: Chromium to CLI at RTT 40 ms (`bench/bench_wan.py --browser-only`)\n\n"
            f"{size >> 20} MiB, Chromium in LAN 1 sending to a CLI in LAN 2 through the lab "
            f"(EIM NATs, 20 ms each way in LAN 1's router): **{mb_s:.2f} MB/s** ({route}); "
            f"aiortc's own window / RTT {RWND / 1e6 / 0.04:.1f} MB/s (the CLI advertises up "
            f"to 8 MiB); impairment CPU "
            f"{impair_cpu:.4f} s/MB."
        )
        if not args.no_write:
            write_section("bench_wan_browser", text)
        print(text)
        summary("wan_rtt40_chromium_to_cli_mb_per_s", mb_s, None, True)
        return
    rtts = (0, 80) if args.quick else (0, 20, 80, 150)
    points = [Point(rtt, loss) for rtt in rtts for loss in (0.0, 0.01)]
    if args.points:
        points = [Point(int(rtt), float(loss)) for rtt, loss in
                  (p.split(":") for p in args.points.split(","))]
        args.no_write = args.no_write or args.mtu is None  # a partial table never
        # replaces the full one; the jumbo-frame table is its own
    asyncio.run(measure(points, size, args.trace, args.repeat, args.ack, args.also_ack,
                        args.baseline))
    if args.mtu is not None:  # the same points again, over jumbo links
        jumbo = [Point(p.rtt_ms, p.loss, args.mtu) for p in points]
        asyncio.run(measure(jumbo, size, args.trace, args.repeat, args.ack, args.also_ack,
                            args.baseline, args.mtu))
        points = points + jumbo
    if args.also_ack:
        text = ack_section(points, size, args.also_ack)
        if args.write_ack and not args.ack:
            write_section("bench_wan_ack", text)
        print(text)
    if args.baseline:
        print("\n".join([f"## WAN: this engine against {args.baseline}", "",
                         *other_rows(points, "baseline"), "",
                         f"Load average: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores."]))
    text = section(points, size, args.mtu)
    if not args.no_write:
        write_section("bench_wan" if args.mtu is None else "bench_wan_jumbo", text)
    print(text)
    for links in sorted({p.mtu for p in points}):
        group = [p for p in points if p.mtu == links]
        tag = "" if args.mtu is None else f"_mtu{links}"
        worst = min(p.ratio or p.engine_mb_s / p.raw_mb_s for p in group)
        summary(f"wan{tag}_engine_vs_raw_aiortc_worst_ratio", worst, 1.0, True)
        at80 = next((p for p in group if p.rtt_ms == 80 and p.loss == 0), None)
        if at80 is not None and at80.bound_mb_s:
            summary(f"wan{tag}_rtt80_engine_mb_per_s", at80.engine_mb_s,
                    round(0.8 * at80.bound_mb_s, 2), True)
            summary(f"wan{tag}_rtt80_engine_vs_rwnd_bound",
                    at80.engine_mb_s / at80.bound_mb_s, 0.8, True)

if __name__ == "__main__":
    main()
