"""Part (d) of bench_p2p: where setup's time goes, step by step (#14).

Two `sgraph-send` processes (send / receive) meet through the local stack, both with
`-vv`; the steps come from the millisecond timestamps of their log lines (relay
frames, aiortc and aioice state changes), which load stretches far less than it does
wall totals. Setup runs from the receiver's `run()` to its open channel (its summary's
`setup_ms`). A baseline tree (another commit's checkout) runs interleaved with this
one, each through its own local stack (the relay hop is part of setup), so a
before/after is measured in one run.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

CLI = [sys.executable, "-m", "transfer_core.cli"]
_STAMP = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) ")

# (step, receiver- or sender-side log, marker) in the order of the critical path; each
# step runs from the previous marker to its own
_SIGNAL_IN = "< TEXT '{\"type\":\"signal\""
STEPS = (
    "start → WebSocket connect begins",
    "WebSocket connect (`$connect`)",
    "open → `ready` sent",
    "`ready` through the relay",
    "sender: `ready` → offer sent",
    "offer through the relay",
    "receiver: offer → answer sent",
    "answer through the relay",
    "ICE checks: answer at the sender → receiver's ICE completed",
    "receiver: ICE completed → DTLS starts",
    "DTLS handshake",
    "SCTP association (INIT … COOKIE-ACK)",
    "channel open (DCEP)",
    "open → setup ends",
)
ASIDE = ("`hello` → `welcome` (receiver)", "sender: answer → its ICE completed",
         "sender: ICE completed → DTLS starts",
         "receiver: process start → setup starts (imports, CLI; not in setup)")


@dataclass
class SetupRun:
    """One setup: its total and its steps (ms; None where a marker was missing)."""

    tree: str
    setup_ms: float
    steps: dict[str, float | None]
    stack_cpu_ms: float | None = None
    """CPU the tree's local stack (gateway, moto, Lambda workers) spent during the run."""


def _lines(path: Path) -> list[tuple[float, str]]:
    found = []
    for line in path.read_text(errors="replace").splitlines():
        match = _STAMP.match(line)
        if match:
            at = dt.datetime.strptime(match.group(1), "%Y-%m-%d %H:%M:%S,%f").timestamp()
            found.append((at, line))
    return found


def _first(lines: list[tuple[float, str]], marker: str, after: float | None = 0.0
           ) -> float | None:
    if after is None:
        return None
    return next((at for at, line in lines if at >= after and marker in line), None)


def steps_from_logs(receiver_log: Path, sender_log: Path, setup_ms: float,
                    launched: float | None = None) -> dict[str, float | None]:
    """The steps of one setup from the two `-vv` logs (same host, same clock);
    `launched`: when the receiver's process was started (epoch seconds), if known."""
    r, s = _lines(receiver_log), _lines(sender_log)
    end = _first(r, "receiver: CONNECTING -> TRANSFERRING")
    ready = _first(r, '"kind":"rea')
    s_ready = _first(s, _SIGNAL_IN, None if ready is None else ready - 0.001)
    s_offer = _first(s, '"kind":"off', s_ready)
    r_offer = _first(r, _SIGNAL_IN, ready)
    r_answer = _first(r, '"kind":"ans', r_offer)
    s_answer = _first(s, _SIGNAL_IN, s_offer)
    s_ice = _first(s, "ICE completed", s_answer)
    r_ice = _first(r, "ICE completed", r_answer)
    r_dtls = _first(r, "State.NEW -> State.CONNECTING", r_ice)
    r_dtls_done = _first(r, "DTLS handshake complete", r_dtls)
    path = [
        None if end is None else end - setup_ms / 1000,
        _first(r, "= connection is CONNECTING"),
        _first(r, "= connection is OPEN"),
        ready, s_ready, s_offer, r_offer, r_answer, s_answer, r_ice, r_dtls,
        r_dtls_done, _first(r, "-> State.ESTABLISHED", r_dtls_done),
        _first(r, "connecting -> open", r_dtls_done), end,
    ]
    found: dict[str, float | None] = {}
    for name, (a, b) in zip(STEPS, zip(path, path[1:], strict=False), strict=True):
        found[name] = None if a is None or b is None else (b - a) * 1000
    hello = _first(r, "> TEXT '{\"action\":\"hello\"")
    welcome = _first(r, "< TEXT '{\"type\":\"welcome\"", hello)
    s_dtls = _first(s, "State.NEW -> State.CONNECTING", s_ice)
    begins = path[0]
    for name, (a, b) in zip(ASIDE, ((hello, welcome), (s_answer, s_ice), (s_ice, s_dtls),
                                    (launched, begins)), strict=True):
        found[name] = None if a is None or b is None else (b - a) * 1000
    return found


def stack_cpu_seconds(pid: int) -> float:
    """CPU (user + system) so far of a process and its descendants (Linux `/proc`).

    The local stack's work for one run (both peers' `$connect`, relay messages and
    `$disconnect`) in CPU rather than wall time: load from other processes stretches
    the steps, not this (#14).
    """
    total, todo = 0.0, [pid]
    tick = os.sysconf("SC_CLK_TCK")
    while todo:
        current = todo.pop()
        try:
            fields = Path(f"/proc/{current}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick
            for task in Path(f"/proc/{current}/task").iterdir():
                todo += [int(c) for c in (task / "children").read_text().split()]
        except (FileNotFoundError, ProcessLookupError):
            continue  # it ended meanwhile
    return total


def run_setup(ws_url: str, tree: Path, source: Path, out: Path, logs: Path, n: int
              ) -> SetupRun:
    """One transfer of `source` between two CLI processes of `tree`, with `-vv` logs."""
    logs.mkdir(parents=True, exist_ok=True)
    s_log, r_log = logs / f"sender-{n}.log", logs / f"receiver-{n}.log"
    with open(s_log, "w") as s_err, open(r_log, "w") as r_err:
        sender = subprocess.Popen(
            [*CLI, "send", str(source), "--server", ws_url, "--json", "-vv"],
            stdout=subprocess.PIPE, stderr=s_err, text=True, cwd=tree)
        assert sender.stdout is not None
        link = json.loads(sender.stdout.readline())
        time.sleep(0.3)  # a sender waiting for its receiver, as people meet
        launched = time.time()
        received = subprocess.run(
            [*CLI, "receive", link["code"], "-o", str(out), "--server", ws_url, "--json",
             "--force", "-vv"], stdout=subprocess.PIPE, stderr=r_err, text=True, cwd=tree,
            timeout=120)
        sender.communicate(timeout=60)
    summary = json.loads(received.stdout.splitlines()[-1])
    if summary.get("event") != "summary" or summary.get("setup_ms") is None:
        raise RuntimeError(f"setup run failed: {summary} (logs in {logs})")
    setup_ms = float(summary["setup_ms"])
    return SetupRun(str(tree), setup_ms, steps_from_logs(r_log, s_log, setup_ms, launched))


def measure_setups(ws_urls: list[str], trees: list[Path], runs: int, work: Path,
                   stack_pids: list[int] | None = None) -> dict[str, list[SetupRun]]:
    """`runs` setups of each tree, interleaved (tree 1, tree 2, tree 1, …); tree i's
    peers meet through the local stack at `ws_urls[i]` (its own, so that the stack's
    changes are measured too), whose process is `stack_pids[i]` if given."""
    source = work / "setup.bin"
    source.write_bytes(b"\0" * (1 << 20))
    done: dict[str, list[SetupRun]] = {str(t): [] for t in trees}
    for n in range(runs):
        for i, tree in enumerate(trees):
            for again in range(3):  # under heavy load a sender may store before its receiver
                try:                # starts (its p2p timeout): that run has no setup
                    cpu = stack_cpu_seconds(stack_pids[i]) if stack_pids else None
                    run = run_setup(ws_urls[i], tree, source, work / "out", work / f"logs-{i}",
                                    n * 3 + again)
                    if cpu is not None and stack_pids:
                        time.sleep(0.2)  # the peers' `$disconnect`s
                        run.stack_cpu_ms = (stack_cpu_seconds(stack_pids[i]) - cpu) * 1000
                    break
                except RuntimeError as exc:
                    print(f"  a run without a direct channel, again: {exc}"[:160], flush=True)
            else:
                raise RuntimeError("three runs in a row without a direct channel")
            done[str(tree)].append(run)
            print(f"  setup {n + 1}/{runs} {'this tree' if i == 0 else 'baseline'}:"
                  f" {run.setup_ms:5.0f} ms", flush=True)
    return done


def median_steps(runs: list[SetupRun]) -> dict[str, float | None]:
    """Each step's median over the runs that logged it."""
    found: dict[str, float | None] = {}
    for name in (*STEPS, *ASIDE):
        values = [v for r in runs if (v := r.steps.get(name)) is not None]
        found[name] = statistics.median(values) if values else None
    return found


def setup_section(by_tree: dict[str, list[SetupRun]], baseline_label: str | None,
                  load_note: str) -> str:
    """The markdown of the setup section: this tree's steps, and the baseline's beside."""
    trees = list(by_tree)
    medians = [median_steps(by_tree[t]) for t in trees]
    totals = [statistics.median(r.setup_ms for r in by_tree[t]) for t in trees]
    runs = len(by_tree[trees[0]])

    def cell(value: float | None) -> str:
        return "–" if value is None else f"{value:.0f}"

    head = "| step | ms (median) |" + (f" {baseline_label} |" if len(trees) > 1 else "")
    rule = "| --- | ---: |" + (" ---: |" if len(trees) > 1 else "")
    rows = [f"| {name} | " + " | ".join(cell(m[name]) for m in medians) + " |"
            for name in STEPS]
    rows.append("| **setup (receiver's `setup_ms`)** | "
                + " | ".join(f"**{t:.0f}**" for t in totals) + " |")
    aside = [f"| {name} | " + " | ".join(cell(m[name]) for m in medians) + " |"
             for name in ASIDE]
    cpus = [[c for r in by_tree[t] if (c := r.stack_cpu_ms) is not None] for t in trees]
    cpu_line = (
        "Local stack CPU per run (gateway, moto and Lambda workers: both peers' `$connect`,"
        " relay messages and `$disconnect`; median; load stretches it far less than wall time): "
        + "; ".join(f"{'this tree' if i == 0 else baseline_label} {statistics.median(c):.0f} ms"
                    for i, c in enumerate(cpus)) + "." if all(cpus) else "")
    per_run = "; ".join(
        f"{'this tree' if i == 0 else baseline_label}: "
        + ", ".join(f"{r.setup_ms:.0f}" for r in by_tree[t]) for i, t in enumerate(trees))
    return "\n".join([
        "## Setup, step by step (`bench/bench_p2p.py`, part d)",
        "",
        "Two `sgraph-send` processes (send / receive, 1 MiB) meet through the local stack,"
        " both with `-vv`; each step is read from the millisecond timestamps of their log"
        " lines (relay frames, aiortc and aioice state changes), which load stretches far"
        " less than wall totals (the debug logging itself slows each step a little). The"
        " receiver starts 0.3 s after the sender has printed its link. Steps follow the"
        " critical path, each from the previous one's end; the receiver's clock and the"
        " sender's are the same host's."
        + (f" The baseline ({baseline_label}) ran interleaved with this tree, each tree's"
           " peers through that tree's own local stack." if len(trees) > 1 else ""),
        "",
        head, rule, *rows,
        "",
        "Beside the critical path:",
        "",
        head, rule, *aside,
        "",
        f"Setup per run ({runs} each): {per_run} ms.",
        "",
        *([cpu_line, ""] if cpu_line else []),
        load_note,
        "",
        "What session 5 took off this path (#14):",
        "",
        "- **The receiver's `ready` follows its `hello` at once** (protocol.md Revision"
        " 2.3): it waited for `welcome` (the sender's id, for `to`); now it goes without"
        " `to`, and the relay hands a receiver's signal without `to` to the sender only."
        " \"open → `ready` sent\" was the whole `hello` round trip. On the local stack,"
        " which handles one connection's messages in order, the `ready`'s Lambda still"
        " runs after the `hello`'s (\"`ready` through the relay\" now holds both); on AWS,"
        " where they are separate invocations, a client-to-region round trip and a Lambda"
        " leave the path. (Sent *before* the `hello`, measured too, the receiver's"
        " `welcome` came after both Lambdas and its answer waited for it: no gain.)",
        "- **The sender's offer is made when it joins its room**, not when a receiver"
        " arrives (`transfer_core/webrtc/offer_ahead.py`): a 2.3 receiver's `peer-joined`"
        " no longer comes a relay hop before its `ready`. An offer older than 15 s is made"
        " anew on the receiver's arrival, as before.",
        "- **The local stack reuses its most recently used idle Lambda worker**"
        " (`devstack/invoker.py`), as Lambda reuses a warm instance for invocations that"
        " do not overlap: taking the workers in turn, each relay message of a connection"
        " met an instance that had to read the connection's item first. (Both trees of"
        " that run met through one stack, so this one was not in its comparison.)",
        "- **The DTLS context is made while signalling waits**"
        " (`transfer_core/webrtc/dtls_ahead.py`): aiortc built it from the connection's"
        " certificate between \"ICE completed\" and the handshake's first flight, on both"
        " peers (\"ICE completed → DTLS starts\").",
        "",
        "What session 6 changed on this path (#14):",
        "",
        "- **The local stack starts each message's Lambda as the message arrives**"
        " (`devstack/gateway.py`), as API Gateway does: the receiver's `ready` no longer"
        " waits for its `hello`'s Lambda to end (\"`ready` through the relay\" held both)."
        " The two Lambdas then run at once, on two workers sharing the machine's two cores"
        " and the one moto process: the `ready`'s meets a worker that has not read the"
        " connection yet (one more read), and the gain shows only where a core is free.",
        "- **The signalling client loads websockets' client modules with itself**, not on"
        " its first connect (\"start → WebSocket connect begins\", about 20 ms). This"
        " moves start-up work out of `setup_ms` rather than removing it: the aside row"
        " \"process start → setup starts\" holds it now.",
        "- **The local stack's moto stops working out per request what never changes**"
        " (`devstack/moto_backend.py`: the backend for a host, a response class's method"
        " names): about a quarter of its CPU for a DynamoDB call, which every relay message"
        " makes one or two of.",
        "- The baseline now runs through its own tree's stack, so a comparison measures"
        " the relay hop's changes too.",
        "",
        "What session 7 changed on this path (#14):",
        "",
        "- **The local stack's moto writes a DynamoDB attribute value that is already in"
        " its wire form as it is** (`devstack/moto_backend.py`): moto's generic response"
        " serializer walked every attribute of every item through the ten members of the"
        " model's `AttributeValue` shape, trying each under several spellings: about three"
        " quarters of moto's CPU for the room Query that most relay messages make. Binary"
        " values, sets, maps and lists still take the generic path;"
        " `tests/integration/test_moto_dynamodb_answers.py` checks the answers against"
        " unpatched moto's.",
        "- **The local stack's moto answers DynamoDB calls on a kept connection**: werkzeug"
        " closes every connection whatever the protocol version (and then waits 10 ms for"
        " stray bytes), so the handler's HTTP/1.1 kept no connection open, and every"
        " DynamoDB call cost the Lambda worker a TCP connect and moto a new thread. A"
        " DynamoDB call (a body of known length) is now read whole and answered with a"
        " length, head and body in one write (two small segments on a kept connection"
        " meet the client's delayed ACK, about 40 ms).",
        "- Together, in a same-run comparison (load 5-7), the stack's CPU per relayed"
        " message (one room Query and one post) went from about 18 to 13 ms: moto from"
        " about 9.5 to 5.5 ms, the Lambda worker from about 8.5 to 7.5 ms. The"
        " \"Local stack CPU per run\" line above measures the same for whole setups.",
        "- Not changed, measured: Powertools' decorators cost about 0.1 ms an invocation;"
        " what remains in the worker is botocore (about 3 ms of CPU a call, signing and"
        " endpoint resolution included), and each relay message already makes one"
        " DynamoDB call (two for a connection the instance has not seen: `$connect` and"
        " the relay are separate functions on AWS, so the local stack does not share"
        " what `$connect` learnt with the relay either).",
    ])
