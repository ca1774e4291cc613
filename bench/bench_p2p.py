"""Peer-to-peer throughput over WebRTC on loopback, two processes per measurement.

(a) raw aiortc with no protocol: 64 KiB messages, flow-controlled on
    `bufferedAmount` (high 1 MiB / low 256 KiB), default asyncio loop and uvloop;
    beside it, raw aiortc with our delayed-SACK adapter alone ("raw + SACK/N",
    `transfer_core/webrtc/sctp_ack.py`), with it and our path-MTU adapter ("+ PMTU",
    `sctp_pmtu.py`: 16,000-byte SCTP packets on loopback), and the same bytes through
    `transfer_core.webrtc.DataPipe` (the channel our engine runs on, with its
    defaults: its throughput is the engine's ceiling).
(b) our engine: two `sgraph-send` CLI processes through the local stack, each
    round right after a raw round on each loop.
(c) a sweep of the record (= message) size and the `bufferedAmount` watermarks on
    `DataPipe` (not with --quick).

Every peer gathers 127.0.0.1 alone (local-only ICE settings) and swaps SDP with
its partner over a multiprocessing pipe (`PipeExchange`, no signalling server).
Throughput is bytes received / (receiver's last byte - sender's channel open);
setup is receiver start -> channel open (both peers start together after a barrier,
imports done); RSS is each process's peak (`ru_maxrss`). Figures are medians of
interleaved rounds; ratios are medians of per-round ratios (the machine is shared).

    python bench/bench_p2p.py                      # 128 MiB per run, 3 rounds
    python bench/bench_p2p.py --quick              # 32 MiB, 1 round
    python bench/bench_p2p.py --no-engine --ack-every 2 3 4 --no-write   # explore N
    python bench/bench_p2p.py --sweep --mib 32     # (c) only: record size, watermarks

It ends with the re-sent bytes after a receiver restart (`bench/p2p_restart.py`,
SUMMARY `p2p_resent_mib_after_receiver_restart`, target one flow-control window), and
(d) setup step by step from both CLI peers' `-vv` logs (`bench/p2p_setup.py`):

    python bench/bench_p2p.py --setup-only --setup-runs 10
    git worktree add /tmp/before <commit>   # a before/after, interleaved in one run:
    python bench/bench_p2p.py --setup-only --setup-baseline /tmp/before
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import random
import resource
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._report import summary, write_section  # noqa: E402

MiB = 1 << 20
MESSAGE = 64 * 1024
HIGH_WATER = 1 * MiB
LOW_WATER = 256 * 1024
SETUP_TIMEOUT = 30.0
TARGET_VS_RAW = 2.5
"""Engine MB/s over raw aiortc's on the default loop (issue #14)."""
TARGET_VS_RAW_UVLOOP = 1.8
"""...over raw aiortc's under uvloop."""
TARGET_CPU_VS_RAW = 2.5
"""Engine MB per CPU-second over raw aiortc's (default loop)."""
TARGET_SETUP_MS = 150.0


# --- the harness -------------------------------------------------------------------


@dataclass
class PeerReport:
    """What one peer measured (monotonic clock, shared by processes on Linux)."""

    opened: float = 0.0
    """The data channel was open."""
    finished: float = 0.0
    """Receiver: last byte received. Sender: last byte handed over."""
    bytes: int = 0
    """Payload bytes sent or received."""
    started: float = 0.0
    """Set by the harness: the peer began setup (after the start barrier)."""
    peak_rss_kib: int = 0
    """Set by the harness: the process's peak resident set size."""
    opened_cpu: float = 0.0
    """The process's CPU seconds (`time.process_time()`) when the channel opened."""
    cpu_s: float = 0.0
    """Set by the harness: CPU seconds the process spent from the channel's opening to
    the end (the transfer and its teardown; imports and setup left out)."""
    extra: dict[str, Any] = field(default_factory=dict)
    """Anything else the peer wants to report (counters, timings)."""


PeerFn = Callable[[Any, dict[str, Any]], Awaitable[PeerReport]]
"""`async def peer(exchange: PipeExchange, params: dict) -> PeerReport`; a module-level
function (spawned processes import it). `params["total_bytes"]` is what to move."""


@dataclass
class Measurement:
    """One two-process run."""

    name: str
    loop: str
    total_bytes: int
    mb_per_s: float
    setup_ms: float
    """Receiver start -> its channel open."""
    sender_setup_ms: float
    sender_rss_mb: float
    receiver_rss_mb: float
    mb_per_cpu_s: float
    """MB per CPU-second of the busier peer: a figure other load on the machine
    disturbs far less than MB/s (a peer that waits for the CPU accrues no CPU time)."""


def _peer_process(
    fn: PeerFn, role: str, conn: Connection, barrier: Any, params: dict[str, Any],
    loop: str, results: Any,
) -> None:
    from transfer_core.webrtc.testing import PipeExchange

    async def main() -> PeerReport:
        exchange = PipeExchange(conn)
        try:
            return await fn(exchange, params)
        finally:
            exchange.close()

    barrier.wait()
    started = time.monotonic()
    cpu_started = time.process_time()
    try:
        if loop == "uvloop":
            import uvloop

            report = uvloop.run(main())
        else:
            report = asyncio.run(main())
    except BaseException as exc:
        results.put((role, repr(exc)))
        raise
    report.started = started
    report.cpu_s = time.process_time() - (report.opened_cpu or cpu_started)
    report.peak_rss_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    results.put((role, report))


def run_pair(
    name: str, sender: PeerFn, receiver: PeerFn, *, total_bytes: int, loop: str = "asyncio",
    params: dict[str, Any] | None = None, timeout: float = 900.0,
) -> Measurement:
    """Run `sender` (offerer) and `receiver` (answerer) in two fresh processes."""
    ctx = multiprocessing.get_context("spawn")
    conn_s, conn_r = ctx.Pipe()
    barrier = ctx.Barrier(2)
    results = ctx.Queue()
    shared = {"total_bytes": total_bytes, **(params or {})}
    procs = [
        ctx.Process(target=_peer_process, args=(fn, role, conn, barrier, shared, loop, results))
        for fn, role, conn in ((sender, "sender", conn_s), (receiver, "receiver", conn_r))
    ]
    for proc in procs:
        proc.start()
    reports: dict[str, PeerReport] = {}
    try:
        deadline = time.monotonic() + timeout
        while len(reports) < 2:
            role, report = results.get(timeout=max(0.1, deadline - time.monotonic()))
            if not isinstance(report, PeerReport):
                raise RuntimeError(f"{name}/{loop}: the {role} failed: {report}")
            reports[role] = report
    finally:
        for proc in procs:
            proc.join(10)
            if proc.is_alive():
                proc.kill()
                proc.join()
    snd, rcv = reports["sender"], reports["receiver"]
    if rcv.bytes != total_bytes:
        raise RuntimeError(f"{name}/{loop}: received {rcv.bytes} of {total_bytes} bytes")
    return Measurement(
        name=name,
        loop=loop,
        total_bytes=total_bytes,
        mb_per_s=rcv.bytes / 1e6 / (rcv.finished - snd.opened),
        setup_ms=(rcv.opened - rcv.started) * 1000,
        sender_setup_ms=(snd.opened - snd.started) * 1000,
        sender_rss_mb=snd.peak_rss_kib / 1024,
        receiver_rss_mb=rcv.peak_rss_kib / 1024,
        mb_per_cpu_s=rcv.bytes / 1e6 / max(snd.cpu_s, rcv.cpu_s),
    )


# --- (a) raw aiortc ----------------------------------------------------------------


def _ack_policy(pc: Any, params: dict[str, Any]) -> None:
    """Raw aiortc acknowledges every packet; `params["ack_every"]` > 1 puts our
    delayed-SACK adapter (and nothing else of ours) on its SCTP transport, and
    `params["pmtu"]` our path-MTU adapter (larger packets where the path carries them)."""
    from transfer_core.webrtc.sctp_ack import AckPolicy, install_delayed_ack
    from transfer_core.webrtc.sctp_pmtu import PROBE_PACKETS, install_path_mtu

    every = params.get("ack_every", 1)
    if every > 1 and install_delayed_ack(pc.sctp, AckPolicy(every=every)) is None:
        raise RuntimeError("the delayed-SACK adapter did not install")
    if params.get("pmtu") and install_path_mtu(pc.sctp, PROBE_PACKETS) is None:
        raise RuntimeError("the path-MTU adapter did not install")


async def raw_sender(exchange: Any, params: dict[str, Any]) -> PeerReport:
    """aiortc alone: offer, then 64 KiB messages under a bufferedAmount high-water mark."""
    from aiortc import RTCPeerConnection, RTCSessionDescription

    from transfer_core.webrtc import IceSettings, loopback_gathering

    total = params["total_bytes"]
    pc = RTCPeerConnection(IceSettings.local().to_rtc_configuration())
    channel = pc.createDataChannel("bench", ordered=True)
    opened: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    low = asyncio.Event()
    channel.on("open", lambda: opened.set_result(None))

    def on_reply(_message: object) -> None:
        if not done.done():
            done.set_result(None)

    channel.on("message", on_reply)
    channel.on("bufferedamountlow", low.set)
    channel.bufferedAmountLowThreshold = LOW_WATER
    with loopback_gathering():
        await pc.setLocalDescription(await pc.createOffer())
    await exchange.send_description(pc.localDescription.sdp, "offer")
    answer = await exchange.receive_description("answer")
    await pc.setRemoteDescription(RTCSessionDescription(sdp=answer, type="answer"))
    _ack_policy(pc, params)
    await asyncio.wait_for(opened, SETUP_TIMEOUT)
    report = PeerReport(opened=time.monotonic(), opened_cpu=time.process_time())
    block = os.urandom(MESSAGE)
    sent = 0
    while sent < total:
        if channel.bufferedAmount >= HIGH_WATER:
            low.clear()
            await low.wait()
        chunk = block if total - sent >= MESSAGE else block[: total - sent]
        channel.send(chunk)
        sent += len(chunk)
    report.finished, report.bytes = time.monotonic(), sent
    await done  # the receiver's "done"
    await pc.close()
    return report


async def raw_receiver(exchange: Any, params: dict[str, Any]) -> PeerReport:
    """aiortc alone: answer, count bytes, say "done"."""
    from aiortc import RTCPeerConnection, RTCSessionDescription

    from transfer_core.webrtc import IceSettings, loopback_gathering

    total = params["total_bytes"]
    loop = asyncio.get_running_loop()
    report = PeerReport()
    complete: asyncio.Future[None] = loop.create_future()
    closed: asyncio.Future[None] = loop.create_future()
    pc = RTCPeerConnection(IceSettings.local().to_rtc_configuration())
    got = 0

    def on_datachannel(channel: Any) -> None:
        report.opened, report.opened_cpu = time.monotonic(), time.process_time()

        def on_message(message: bytes) -> None:
            nonlocal got
            got += len(message)
            if got >= total and not complete.done():
                report.finished = time.monotonic()
                complete.set_result(None)

        channel.on("message", on_message)

        def on_close() -> None:
            if not closed.done():
                closed.set_result(None)

        channel.on("close", on_close)
        complete.add_done_callback(lambda _f: channel.send("done"))

    pc.on("datachannel", on_datachannel)
    offer = await exchange.receive_description("offer")
    await pc.setRemoteDescription(RTCSessionDescription(sdp=offer, type="offer"))
    _ack_policy(pc, params)
    with loopback_gathering():
        await pc.setLocalDescription(await pc.createAnswer())
    await exchange.send_description(pc.localDescription.sdp, "answer")
    await complete
    report.bytes = got
    await asyncio.wait({closed}, timeout=5)
    await pc.close()
    return report


# --- DataPipe over the same bytes ---------------------------------------------------


def _pipe_options(params: dict[str, Any]) -> Any:
    """`PipeOptions` with its defaults, but for what `params` sets (the sweep)."""
    from transfer_core.webrtc import AckPolicy, PipeOptions

    defaults = PipeOptions()
    return PipeOptions(
        high_water=params.get("high", defaults.high_water),
        low_water=params.get("low", defaults.low_water),
        ack_policy=AckPolicy(every=params.get("ack_every", defaults.ack_policy.every)),
        probe_packets=params.get("probes", defaults.probe_packets),
    )


async def pipe_sender(exchange: Any, params: dict[str, Any]) -> PeerReport:
    """The same transfer through `DataPipe.send` (its back-pressure, same watermarks)."""
    from transfer_core.webrtc import IceSettings, open_as_offerer

    total = params["total_bytes"]
    message = params.get("message", MESSAGE)
    pipe = await open_as_offerer(IceSettings.local(), exchange, options=_pipe_options(params))
    report = PeerReport(opened=time.monotonic(), opened_cpu=time.process_time())
    block = os.urandom(message)
    sent = 0
    while sent < total:
        chunk = block if total - sent >= message else block[: total - sent]
        await pipe.send(chunk)
        sent += len(chunk)
    report.finished, report.bytes = time.monotonic(), sent
    await pipe.recv()  # "done"
    report.extra["setup_ms"] = pipe.timing.setup_ms
    await pipe.close()
    return report


async def pipe_receiver(exchange: Any, params: dict[str, Any]) -> PeerReport:
    """The same transfer through `DataPipe.recv`."""
    from transfer_core.webrtc import IceSettings, open_as_answerer

    total = params["total_bytes"]
    pipe = await open_as_answerer(IceSettings.local(), exchange, options=_pipe_options(params))
    report = PeerReport(opened=time.monotonic(), opened_cpu=time.process_time())
    got = 0
    while got < total:
        got += len(await pipe.recv())
    report.finished, report.bytes = time.monotonic(), got
    await pipe.send("done")
    await asyncio.wait({asyncio.ensure_future(pipe.closed.wait())}, timeout=5)
    await pipe.close()
    return report


# --- the run -----------------------------------------------------------------------


@dataclass(frozen=True)
class Contender:
    """One measured configuration."""

    name: str
    loop: str
    sender: PeerFn
    receiver: PeerFn
    ack_every: int = 1
    """Both peers' SACK policy: 1 is aiortc's own (every packet)."""
    params: tuple[tuple[str, Any], ...] = ()
    """More parameters for the peers (the sweep: message size, watermarks)."""

    @property
    def label(self) -> str:
        return f"{self.name} {self.loop}"


def _default_ack_every() -> int:
    from transfer_core.webrtc.sctp_ack import DEFAULT_ACK_POLICY

    return DEFAULT_ACK_POLICY.every


RAW_DEFAULT = Contender("raw aiortc", "asyncio", raw_sender, raw_receiver)
RAW_UVLOOP = Contender("raw aiortc", "uvloop", raw_sender, raw_receiver)


def policy_contenders(every: int) -> list[Contender]:
    """Raw aiortc with our delayed-SACK adapter alone (every `every`-th TSN acked)."""
    return [Contender(f"raw + SACK/{every}", loop, raw_sender, raw_receiver, every)
            for loop in ("asyncio", "uvloop")]


def adapter_contenders(every: int) -> list[Contender]:
    """Raw aiortc with both our SCTP adapters, the delayed SACK and the path MTU (its
    packet size: 16,000 bytes on loopback), and nothing else of ours."""
    return [Contender(f"raw + SACK/{every} + PMTU", loop, raw_sender, raw_receiver, every,
                      (("pmtu", True),))
            for loop in ("asyncio", "uvloop")]


def pipe_contenders() -> list[Contender]:
    """`DataPipe` with its defaults (the engine's channel: the policy included)."""
    every = _default_ack_every()
    return [Contender("DataPipe", loop, pipe_sender, pipe_receiver, every)
            for loop in ("asyncio", "uvloop")]


def lan_pipe_contenders() -> list[Contender]:
    """`DataPipe` limited to the packets a 1,500-byte LAN carries (1,400 bytes), and to
    WebRTC's own 1,189: what the path-MTU search is worth off loopback."""
    every = _default_ack_every()
    return [Contender(f"DataPipe, {name} packets", "uvloop", pipe_sender, pipe_receiver, every,
                      (("probes", probes),))
            for name, probes in (("1,400-byte", (1_400,)), ("1,189-byte", ()))]


def run_contender(c: Contender, total_bytes: int) -> Measurement:
    return run_pair(c.name, c.sender, c.receiver, total_bytes=total_bytes, loop=c.loop,
                    params={"ack_every": c.ack_every, **dict(c.params)})


def measure(
    contenders: list[Contender], total_bytes: int, rounds: int
) -> dict[Contender, list[Measurement]]:
    """Interleaved rounds (machine noise hits all alike); every run kept. The first
    contender is the baseline each round's ratios divide by."""
    runs: dict[Contender, list[Measurement]] = {c: [] for c in contenders}
    for round_no in range(1, rounds + 1):
        for c in contenders:
            m = run_contender(c, total_bytes)
            print(f"  round {round_no}: {c.name:<22} {c.loop:<8} {m.mb_per_s:6.1f} MB/s"
                  f"  {m.mb_per_cpu_s:5.1f} MB/CPU-s  setup {m.setup_ms:5.0f} ms"
                  f"  RSS {m.sender_rss_mb:4.0f}/{m.receiver_rss_mb:4.0f} MB", flush=True)
            runs[c].append(m)
    return runs


@dataclass(frozen=True)
class Summary:
    """Medians of one contender's interleaved runs, and of its per-round ratios to the
    baseline run of the same round."""

    contender: Contender
    mb_per_s: float
    mb_per_cpu_s: float
    ratio: float
    """Median of (this run's MB/s / the baseline's MB/s in the same round)."""
    cpu_ratio: float
    """...the same for MB per CPU-second."""
    setup_ms: float
    sender_rss_mb: float
    receiver_rss_mb: float


def summarise(runs: dict[Contender, list[Measurement]], baseline: Contender
              ) -> dict[Contender, Summary]:
    """Each contender's medians (peak RSS: the largest run)."""
    import statistics

    med = statistics.median
    base = runs[baseline]
    return {
        c: Summary(
            c, med(m.mb_per_s for m in ms), med(m.mb_per_cpu_s for m in ms),
            med(m.mb_per_s / b.mb_per_s for m, b in zip(ms, base, strict=True)),
            med(m.mb_per_cpu_s / b.mb_per_cpu_s for m, b in zip(ms, base, strict=True)),
            med(m.setup_ms for m in ms), max(m.sender_rss_mb for m in ms),
            max(m.receiver_rss_mb for m in ms))
        for c, ms in runs.items()
    }


def _load_note() -> str:
    load = os.getloadavg()[0]
    busy = load > (os.cpu_count() or 1) / 2
    return f"Load average at the end: {load:.1f}." + (
        " Other work shared the CPUs during this run: read the absolute MB/s as a floor;"
        " the ratios and MB per CPU-s compare better." if busy else "")


def raw_section(stats: dict[Contender, Summary], total_bytes: int, rounds: int) -> str:
    rows = [
        f"| {s.contender.name} | {s.contender.loop} | {s.mb_per_s:.1f} | {s.ratio:.2f} |"
        f" {s.mb_per_cpu_s:.1f} | {s.cpu_ratio:.2f} |"
        f" {s.setup_ms:.0f} | {s.sender_rss_mb:.0f} / {s.receiver_rss_mb:.0f} |"
        for s in stats.values()
    ]
    every = _default_ack_every()
    return "\n".join([
        "## Peer to peer, raw baseline (`bench/bench_p2p.py`, part a)",
        "",
        f"Two processes on loopback (ICE gathers 127.0.0.1 alone), {total_bytes // MiB} MiB of"
        f" 64 KiB messages, flow-controlled on `bufferedAmount` (high {HIGH_WATER // 1024} KiB,"
        f" low {LOW_WATER // 1024} KiB). Medians of {rounds} interleaved round(s); each ratio"
        " is the median of the per-round ratios to raw aiortc on the default loop."
        f" \"raw + SACK/N\" is raw aiortc with our delayed-SACK adapter alone"
        " (`transfer_core/webrtc/sctp_ack.py`: every N-th packet acknowledged while the"
        " receiver is behind, every third once it has been behind for 50 ms on datagrams of"
        " at most 1,500 bytes when N is 2 or 3, at once when it caught up), nothing else"
        " of ours; \"+ PMTU\" adds our path-MTU adapter (`sctp_pmtu.py`): SCTP packets as"
        " large as the path carries, 16,000 bytes on loopback against WebRTC's 1,189, so"
        " these rows are what the two SCTP adapters alone do."
        " \"DataPipe\" is the same transfer through `transfer_core.webrtc.DataPipe`"
        f" with its defaults (SACK/{every}): the ceiling of our engine."
        " Setup is receiver start → channel open. MB per CPU-s divides by the CPU time of"
        " the busier peer from the channel's opening to its end: other load on the machine"
        " moves it far less than MB/s.",
        "",
        "| path | loop | MB/s | × raw default loop | MB per CPU-s | × raw (CPU) | setup ms |"
        " peak RSS MB (sender / receiver) |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
        *rows,
        "",
        _load_note(),
    ])


# --- (b) our engine ----------------------------------------------------------------


def _make_file(path: Path, size: int) -> Path:
    with open(path, "wb") as fh:
        left = size
        while left:
            block = os.urandom(min(left, 4 * MiB))
            fh.write(block)
            left -= len(block)
    return path


@dataclass
class EngineRound:
    """One engine transfer with the two raw rounds run right before it."""

    raw: Measurement
    raw_uvloop: Measurement
    engine: Any

    @property
    def vs_raw(self) -> float:
        return float(self.engine.mb_per_s / self.raw.mb_per_s)

    @property
    def vs_raw_uvloop(self) -> float:
        return float(self.engine.mb_per_s / self.raw_uvloop.mb_per_s)

    @property
    def cpu_vs_raw(self) -> float:
        return float(self.engine.mb_per_cpu_s / self.raw.mb_per_cpu_s)


def engine_section(rounds: list[EngineRound], by_size: dict[int, Any]) -> str:
    import statistics

    from bench.p2p_engine import s3_path_cost

    med = statistics.median
    engines = [r.engine for r in rounds]
    best = max(engines, key=lambda r: r.mb_per_s)
    cost = best.cost()
    total = sum(cost.values())
    s3 = s3_path_cost(50_000_000)
    rss_rows = [
        f"| {size // MiB} MiB | {r.mb_per_s:.1f} | {r.sender_rss_mb:.0f}"
        f" | {r.receiver_rss_mb:.0f} |"
        for size, r in sorted(by_size.items())
    ]
    calls = ", ".join(f"{op} {n}" for op, n in sorted(best.dynamodb.items())
                      if not op.startswith("_"))

    def ratios(values: list[float]) -> str:
        return ", ".join(f"{v:.2f}" for v in values)

    return "\n".join([
        "## Peer to peer, our engine (`bench/bench_p2p.py`, part b)",
        "",
        "Two `sgraph-send` processes (send / receive, uvloop) meeting through the local",
        "stack: signed signalling, encrypted records, each verified and written to disk,",
        "whole-file SHA-256 checked before the rename. MB/s runs from the first record to",
        "the verified file; setup from the receiver's start (relay connect, `hello`",
        "with its ICE servers, signed offer/answer, ICE, DTLS, SCTP) to the open channel.",
        "Each engine round runs right after a raw aiortc round on the default loop and one",
        "under uvloop (same bytes); each ratio is the median of the per-round ratios.",
        "MB per CPU-s divides by the CPU time of the busier process from the first record",
        "(raw: the channel's opening) to its exit; start-up and setup are left out.",
        "",
        "| | MB/s (median) | MB per CPU-s (median) | setup ms (median) |",
        "| --- | ---: | ---: | ---: |",
        f"| raw aiortc, default loop | {med(r.raw.mb_per_s for r in rounds):.1f} |"
        f" {med(r.raw.mb_per_cpu_s for r in rounds):.1f} |"
        f" {med(r.raw.setup_ms for r in rounds):.0f} |",
        f"| raw aiortc, uvloop | {med(r.raw_uvloop.mb_per_s for r in rounds):.1f} |"
        f" {med(r.raw_uvloop.mb_per_cpu_s for r in rounds):.1f} |"
        f" {med(r.raw_uvloop.setup_ms for r in rounds):.0f} |",
        f"| our engine | {med(e.mb_per_s for e in engines):.1f} |"
        f" {med(e.mb_per_cpu_s for e in engines):.1f} | {med(e.setup_ms for e in engines):.0f} |",
        "",
        "| ratio (median of rounds) | value | target | per round |",
        "| --- | ---: | ---: | --- |",
        f"| engine MB/s ÷ raw default loop | {med(r.vs_raw for r in rounds):.2f} |"
        f" ≥ {TARGET_VS_RAW} | {ratios([r.vs_raw for r in rounds])} |",
        f"| engine MB/s ÷ raw uvloop | {med(r.vs_raw_uvloop for r in rounds):.2f} |"
        f" ≥ {TARGET_VS_RAW_UVLOOP} | {ratios([r.vs_raw_uvloop for r in rounds])} |",
        f"| engine MB per CPU-s ÷ raw | {med(r.cpu_vs_raw for r in rounds):.2f} |"
        f" ≥ {TARGET_CPU_VS_RAW} | {ratios([r.cpu_vs_raw for r in rounds])} |",
        "",
        f"Setup target: ≤ {TARGET_SETUP_MS:.0f} ms.",
        "",
        "Peak RSS of each peer (polled every 20 ms), by file size:",
        "",
        "| file | MB/s | sender MB | receiver MB |",
        "| --- | ---: | ---: | ---: |",
        *rss_rows,
        "",
        _load_note(),
        "",
        "### What one P2P transfer costs the backend",
        "",
        f"Counted on the local stack for one transfer: {best.ws_in} WebSocket messages in,"
        f" {best.ws_out} out ({best.dynamodb.get('_signal_bytes', 0)} bytes in all),"
        f" {best.lambda_invocations} Lambda invocations ({best.connections} × `$connect`"
        f" and `$disconnect`, one per client message), DynamoDB: {calls}."
        f" Priced at AWS list prices (us-east-1; Lambda arm64, 256 MB, {20} ms billed per"
        " invocation assumed):",
        "",
        "| item | USD |",
        "| --- | ---: |",
        *[f"| {k} | {v:.8f} |" for k, v in cost.items()],
        f"| **per P2P transfer** | **{total:.8f}** |",
        "",
        "The same 50 MB file through S3 instead (the seed's §5.3 comparison; 8 MiB parts,"
        " one day stored, downloaded once to the internet):",
        "",
        "| item | USD |",
        "| --- | ---: |",
        *[f"| {k} | {v:.6f} |" for k, v in s3.items()],
        f"| **per S3 transfer** | **{sum(s3.values()):.6f}** |",
        "",
        "The P2P path's cost does not grow with the file: the bytes never touch AWS.",
    ])


def measure_engine(rounds: int, total: int, rss_sizes: list[int], write: bool) -> None:
    """Engine rounds, each right after a raw round on each loop (noise hits all alike)."""
    import statistics
    import tempfile

    from bench.p2p_engine import run_engine
    from devstack.process import DevStackProcess

    med = statistics.median
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        record = tmp / "relayed.jsonl"
        with DevStackProcess(record_to=record) as info:
            source = _make_file(tmp / "engine.bin", total)
            done: list[EngineRound] = []
            for round_no in range(1, rounds + 1):
                raw = run_contender(RAW_DEFAULT, total)
                raw_uv = run_contender(RAW_UVLOOP, total)
                run = run_engine(info.ws_url, info.aws_endpoint_url, record, source, tmp / "out")
                done.append(EngineRound(raw, raw_uv, run))
                r = done[-1]
                print(f"  round {round_no}: raw {raw.mb_per_s:6.1f} MB/s, raw uvloop"
                      f" {raw_uv.mb_per_s:6.1f} MB/s, our engine {run.mb_per_s:6.1f} MB/s"
                      f" (×{r.vs_raw:.2f} / ×{r.vs_raw_uvloop:.2f}; CPU ×{r.cpu_vs_raw:.2f}),"
                      f" setup {run.setup_ms:5.0f} ms, RSS {run.sender_rss_mb:4.0f}/"
                      f"{run.receiver_rss_mb:4.0f} MB", flush=True)
            source.unlink()
            by_size = {}
            for size in rss_sizes:
                path = _make_file(tmp / f"rss-{size // MiB}.bin", size)
                by_size[size] = run_engine(info.ws_url, info.aws_endpoint_url, record, path,
                                           tmp / "out")
                path.unlink()
                r_size = by_size[size]
                print(f"  {size // MiB:>5} MiB: {r_size.mb_per_s:6.1f} MB/s  peak RSS sender"
                      f" {r_size.sender_rss_mb:.0f} MB, receiver {r_size.receiver_rss_mb:.0f} MB",
                      flush=True)
    engines = [r.engine for r in done]
    vs_raw = med(r.vs_raw for r in done)
    print(f"our engine {med(e.mb_per_s for e in engines):.1f} MB/s (median); ×{vs_raw:.2f} raw"
          f" default loop, ×{med(r.vs_raw_uvloop for r in done):.2f} raw uvloop,"
          f" ×{med(r.cpu_vs_raw for r in done):.2f} raw MB per CPU-s")
    if write:
        write_section("bench_p2p_engine", engine_section(done, by_size))
    summary("p2p_vs_raw_aiortc", vs_raw, TARGET_VS_RAW, True)
    summary("p2p_vs_raw_aiortc_uvloop", med(r.vs_raw_uvloop for r in done),
            TARGET_VS_RAW_UVLOOP, True)
    summary("p2p_mb_per_cpu_s_vs_raw", med(r.cpu_vs_raw for r in done), TARGET_CPU_VS_RAW,
            True)
    summary("p2p_engine_setup_ms", med(e.setup_ms for e in engines), TARGET_SETUP_MS, False)
    if by_size:
        largest = by_size[max(by_size)]
        summary("p2p_engine_peak_rss_mb", max(largest.sender_rss_mb, largest.receiver_rss_mb),
                150.0, False)
    best = max(engines, key=lambda e: e.mb_per_s)
    from bench.p2p_engine import print_cost
    print_cost(best)
    summary("p2p_backend_cost_usd", sum(best.cost().values()), 0.00002, False)


def measure_setup(runs: int, baseline: Path | None, write: bool) -> None:
    """Part (d): setup step by step (bench/p2p_setup.py), beside a baseline tree's."""
    import contextlib
    import statistics
    import subprocess
    import tempfile

    from bench.p2p_setup import measure_setups, setup_section
    from devstack.process import DevStackProcess

    root = Path(__file__).resolve().parents[1]
    trees = [root] if baseline is None else [root, baseline.resolve()]
    label = None
    if baseline is not None:
        head = subprocess.run(["git", "-C", str(baseline), "log", "-1", "--format=%h"],
                              capture_output=True, text=True).stdout.strip()
        label = f"baseline `{head or baseline.name}`"
    with tempfile.TemporaryDirectory() as tmp, contextlib.ExitStack() as stacks:
        # each tree through its own local stack: the relay hop is part of setup (#14)
        procs = [DevStackProcess(root=tree) for tree in trees]
        urls = [stacks.enter_context(proc).ws_url for proc in procs]
        by_tree = measure_setups(urls, trees, runs, Path(tmp), [proc.pid for proc in procs])
    mine = by_tree[str(root)]
    print(f"setup, this tree: {statistics.median(r.setup_ms for r in mine):.0f} ms (median of"
          f" {len(mine)})" + ("" if baseline is None else f"; {label}: "
          f"{statistics.median(r.setup_ms for r in by_tree[str(trees[1])]):.0f} ms"))
    for i, tree in enumerate(trees):
        cpus = [c for r in by_tree[str(tree)] if (c := r.stack_cpu_ms) is not None]
        if cpus:
            print(f"local stack CPU per run, {'this tree' if i == 0 else label}:"
                  f" {statistics.median(cpus):.0f} ms (median)")
    load = os.getloadavg()[0]
    note = (f"Load average at the end: {load:.1f} on {os.cpu_count()} cores."
            + (" **Measured under load**: every step is stretched by other work, the"
               " totals most; compare the steps of this run with each other, and re-run on"
               " a quiet machine for absolute figures." if load > (os.cpu_count() or 1)
               else ""))  # the two peers and the stack themselves make about 1
    if write:
        write_section("bench_p2p_setup", setup_section(by_tree, label, note))
    summary("p2p_setup_steps_total_ms", statistics.median(r.setup_ms for r in mine),
            TARGET_SETUP_MS, False)


SWEEP_MESSAGES_KIB = (16, 64, 128, 256)
SWEEP_WATERMARKS_KIB = ((512, 128), (1024, 256), (2048, 512), (4096, 1024))


def sweep_contenders() -> list[Contender]:
    """DataPipe under uvloop: each message size at the default watermarks, then each
    watermark pair at 64 KiB messages."""
    from transfer_core.webrtc import PipeOptions

    defaults = PipeOptions()
    high, low = defaults.high_water // 1024, defaults.low_water // 1024
    every = _default_ack_every()
    found = [Contender(f"DataPipe {kib} KiB, {high}/{low} KiB", "uvloop", pipe_sender,
                       pipe_receiver, every, (("message", kib * 1024),))
             for kib in SWEEP_MESSAGES_KIB]
    found += [Contender(f"DataPipe 64 KiB, {h}/{lo} KiB", "uvloop", pipe_sender,
                        pipe_receiver, every, (("high", h * 1024), ("low", lo * 1024)))
              for h, lo in SWEEP_WATERMARKS_KIB if (h, lo) != (high, low)]
    return found


def sweep_section(stats: dict[Contender, Summary], total_bytes: int, rounds: int) -> str:
    rows = [
        f"| {s.contender.name.removeprefix('DataPipe ')} | {s.mb_per_s:.1f} | {s.ratio:.2f} |"
        f" {s.mb_per_cpu_s:.1f} | {s.cpu_ratio:.2f} |"
        for s in stats.values() if s.contender is not RAW_DEFAULT
    ]
    return "\n".join([
        "## Record size and watermarks (`bench/bench_p2p.py --sweep`)",
        "",
        f"`DataPipe` under uvloop with its SACK policy, {total_bytes // MiB} MiB of messages"
        " of each size (a message is one record), `bufferedAmount` high / low watermarks"
        f" as given; medians of {rounds} interleaved round(s), ratios to raw aiortc on the"
        " default loop in the same round.",
        "",
        "| message, high / low | MB/s | × raw | MB per CPU-s | × raw (CPU) |",
        "| --- | ---: | ---: | ---: | ---: |",
        *rows,
        "",
        _load_note(),
    ])


def run_sweep(total: int, rounds: int, write: bool) -> None:
    """Part (c): the sweep, beside raw aiortc on the default loop."""
    swept = summarise(measure([RAW_DEFAULT, *sweep_contenders()], total, rounds), RAW_DEFAULT)
    for c, st in swept.items():
        print(f"{c.name:<32} {st.mb_per_s:6.1f} MB/s ×{st.ratio:.2f}"
              f"  {st.mb_per_cpu_s:5.1f} MB/CPU-s ×{st.cpu_ratio:.2f}")
    if write:
        write_section("bench_p2p_sweep", sweep_section(swept, total, rounds))
    best = max((st for c, st in swept.items() if c is not RAW_DEFAULT),
               key=lambda st: st.cpu_ratio)
    summary("p2p_sweep_best_cpu_vs_raw", best.cpu_ratio, None, True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="32 MiB, one round")
    parser.add_argument("--mib", type=int, help="MiB per run (default 128, --quick 32)")
    parser.add_argument("--rounds", type=int, help="interleaved rounds (default 3, --quick 1)")
    parser.add_argument("--no-write", action="store_true", help="do not touch docs/benchmarks.md")
    parser.add_argument("--ack-every", type=int, nargs="*",
                        help="SACK policies to show on raw aiortc (default: the engine's)")
    parser.add_argument("--no-engine", action="store_true", help="part (a) only")
    parser.add_argument("--engine-only", action="store_true", help="part (b) only")
    parser.add_argument("--sweep", action="store_true",
                        help="only the record-size / watermark sweep on DataPipe")
    parser.add_argument("--no-sweep", action="store_true", help="skip the sweep")
    parser.add_argument("--rss-mib", type=int, nargs="*",
                        help="file sizes for the engine's peak-RSS runs (default 64 1024,"
                             " --quick 64)")
    parser.add_argument("--restart-runs", type=int, default=None,
                        help="receiver-restart runs for the re-sent bytes (default 5,"
                             " --quick 2; 0 skips them)")
    parser.add_argument("--setup-runs", type=int, default=None,
                        help="setups measured step by step from -vv logs (default 8,"
                             " --quick 4; 0 skips them)")
    parser.add_argument("--setup-only", action="store_true", help="part (d) only")
    parser.add_argument("--setup-baseline", type=Path, metavar="DIR",
                        help="another checkout (git worktree) whose CLI runs interleaved"
                             " with this tree's in part (d): a before/after")
    args = parser.parse_args(argv)
    setups = args.setup_runs if args.setup_runs is not None else (4 if args.quick else 8)
    total = (args.mib or (32 if args.quick else 128)) * MiB
    rounds = args.rounds or (1 if args.quick else 3)

    print(f"bench_p2p: {total // MiB} MiB per run, {rounds} round(s), {os.cpu_count()} cores")
    if args.sweep:
        run_sweep(total, rounds, not args.no_write)
        return
    if args.setup_only:
        measure_setup(setups or 8, args.setup_baseline, not args.no_write)
        return
    rss_mib = args.rss_mib if args.rss_mib is not None else ([64] if args.quick else [64, 1024])
    if args.engine_only:
        measure_engine(rounds, total, [m * MiB for m in rss_mib], not args.no_write)
        return
    everies = args.ack_every if args.ack_every is not None else [_default_ack_every()]
    contenders = [RAW_DEFAULT, RAW_UVLOOP,
                  *[c for n in everies for c in policy_contenders(n)],
                  *adapter_contenders(_default_ack_every()), *pipe_contenders(),
                  *lan_pipe_contenders()]
    stats = summarise(measure(contenders, total, rounds), RAW_DEFAULT)
    for c, st in stats.items():
        print(f"{c.name:<22} {c.loop:<8} {st.mb_per_s:6.1f} MB/s  ×{st.ratio:.2f} raw default"
              f" loop  {st.mb_per_cpu_s:5.1f} MB/CPU-s ×{st.cpu_ratio:.2f}  setup"
              f" {st.setup_ms:.0f} ms")
    if not args.no_write:
        write_section("bench_p2p_raw", raw_section(stats, total, rounds))
    default = _default_ack_every()
    policy = {c.loop: stats[c] for c in policy_contenders(default) if c in stats}
    adapters = {c.loop: stats[c] for c in adapter_contenders(default)}
    pipe = {c.loop: stats[c] for c in pipe_contenders()}
    summary("p2p_raw_default_loop_mb_s", stats[RAW_DEFAULT].mb_per_s, None, True)
    summary("p2p_raw_uvloop_mb_s", stats[RAW_UVLOOP].mb_per_s, None, True)
    if policy:
        summary("p2p_sack_policy_alone_vs_raw_default", policy["asyncio"].ratio, None, True)
        summary("p2p_sack_policy_alone_uvloop_vs_raw_default", policy["uvloop"].ratio, None,
                True)
        summary("p2p_sack_policy_alone_mb_per_cpu_s_vs_raw", policy["asyncio"].cpu_ratio,
                None, True)
    summary("p2p_adapters_alone_vs_raw_default", adapters["asyncio"].ratio, None, True)
    summary("p2p_adapters_alone_mb_per_cpu_s_vs_raw", adapters["asyncio"].cpu_ratio, None, True)
    summary("p2p_pipe_uvloop_vs_raw_default", pipe["uvloop"].ratio, TARGET_VS_RAW, True)
    summary("p2p_raw_setup_ms", stats[RAW_DEFAULT].setup_ms, TARGET_SETUP_MS, False)
    summary("p2p_pipe_setup_ms", pipe["uvloop"].setup_ms, TARGET_SETUP_MS, False)
    if args.no_engine:
        return
    measure_engine(rounds, total, [m * MiB for m in rss_mib], not args.no_write)
    # re-sent bytes after a receiver restart (#11): its own module, its own section
    restarts = args.restart_runs if args.restart_runs is not None else (2 if args.quick else 5)
    if restarts:
        from bench.p2p_restart import run_restart_bench
        run_restart_bench(restarts, 64 * MiB, random.randrange(1 << 30), not args.no_write)
    if setups:
        measure_setup(setups, args.setup_baseline, not args.no_write)
    if not args.quick and not args.no_sweep:
        run_sweep(total, rounds, not args.no_write)


if __name__ == "__main__":
    main()
