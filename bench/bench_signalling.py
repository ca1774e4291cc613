"""Signalling benchmark: relay round trips through the local gateway, DynamoDB calls, cold starts.

Prints figures, rewrites its own section of docs/benchmarks.md, and ends with
one `SUMMARY {...}` line per headline figure. Never a pass/fail test.

    .venv/bin/python bench/bench_signalling.py [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import websockets  # noqa: E402

from bench._report import summary as emit_summary  # noqa: E402
from bench._report import write_section  # noqa: E402
from devstack import DevStack  # noqa: E402
from transfer_core.protocol.room import offer  # noqa: E402

COLD_TARGET = 1.4


# -- relay through the local gateway ---------------------------------------


async def _pair(url: str, sem: asyncio.Semaphore) -> tuple[Any, Any, str]:
    room_key = secrets.token_bytes(32)
    async with sem:
        a = await websockets.connect(f"{url}?role=sender",
                                     subprotocols=offer(room_key))  # type: ignore[arg-type]
        b = await websockets.connect(f"{url}?role=receiver",
                                     subprotocols=offer(room_key))  # type: ignore[arg-type]
        await a.send('{"action":"hello"}')
        await _until(a, "welcome")
        await b.send('{"action":"hello"}')
        welcome_b = await _until(b, "welcome")
        await _until(a, "peer-joined")
    return a, b, welcome_b["id"]


async def _until(ws: Any, kind: str) -> dict[str, Any]:
    while True:
        message = json.loads(await ws.recv())
        if message["type"] == kind:
            return message


async def _round_trips(a: Any, b: Any, count: int, rtts: list[float]) -> None:
    """A signals B, B signals back: one round trip is two relayed messages."""
    for n in range(count):
        start = time.perf_counter()
        await a.send(json.dumps({"action": "signal", "payload": {"n": n, "sdp": "x" * 200}}))
        got = json.loads(await b.recv())
        await b.send(json.dumps({"action": "signal", "payload": got["payload"]}))
        await a.recv()
        rtts.append((time.perf_counter() - start) * 1000)


async def relay_phase(stack: DevStack, rooms: int, per_room: int) -> dict[str, Any]:
    sem = asyncio.Semaphore(16)
    pairs = await asyncio.gather(*(_pair(stack.ws_url, sem) for _ in range(rooms)))
    await asyncio.to_thread(stack.moto.reset_dynamodb_calls)
    rtts: list[float] = []
    start = time.perf_counter()
    await asyncio.gather(*(_round_trips(a, b, per_room, rtts) for a, b, _ in pairs))
    elapsed = time.perf_counter() - start
    calls = await asyncio.to_thread(lambda: stack.moto.dynamodb_calls)
    for a, b, _ in pairs:
        await a.close()
        await b.close()
    relayed = 2 * len(rtts)
    rtts.sort()
    return {
        "rooms": rooms,
        "round_trips": len(rtts),
        "p50_ms": statistics.median(rtts),
        "p99_ms": rtts[min(len(rtts) - 1, int(len(rtts) * 0.99))],
        "messages_per_s": relayed / elapsed,
        "dynamodb_calls": dict(calls),
        "dynamodb_calls_per_message": sum(calls.values()) / relayed,
    }


# -- cold start ------------------------------------------------------------

_PROBE = """
import time, sys
t = time.perf_counter()
{code}
print(time.perf_counter() - t)
"""
COLD_CASES = {
    "baseline": "import boto3\nboto3.client('dynamodb')",
    "connect": "import lambdas.connect",
    "disconnect": "import lambdas.disconnect",
    "relay": "import lambdas.relay",
}
#: Each handler's environment beyond the shared one, as infra/stack.py deploys it: the
#: relay has the bucket, so its import makes the S3 client the storage actions presign with.
COLD_ENV = {"relay": {"BUCKET_NAME": "bench-bucket"}}


def cold_starts(rounds: int) -> dict[str, float]:
    """Median seconds per case; cases interleaved in each round, each in a fresh interpreter."""
    env = {
        **os.environ,
        # As in Lambda: the X-Ray SDK takes its Lambda path (no sampling client at import).
        "LAMBDA_TASK_ROOT": str(ROOT),
        "AWS_LAMBDA_FUNCTION_NAME": "bench",
        "AWS_DEFAULT_REGION": "eu-west-2",
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "TABLE_NAME": "bench",
        "POWERTOOLS_SERVICE_NAME": "sgraph-send",
    }
    samples: dict[str, list[float]] = {k: [] for k in COLD_CASES}
    for _ in range(rounds):
        for name, code in COLD_CASES.items():
            out = subprocess.run(
                [sys.executable, "-c", _PROBE.format(code=code)],
                cwd=ROOT,
                env={**env, **COLD_ENV.get(name, {})},
                capture_output=True,
                text=True,
                check=True,
            )
            samples[name].append(float(out.stdout.strip().splitlines()[-1]))
    return {name: statistics.median(values) for name, values in samples.items()}


# -- report ----------------------------------------------------------------


async def run(quick: bool) -> None:
    plan = [(1, 40 if quick else 100), (50, 2 if quick else 4), (200, 1 if quick else 2)]
    # one client address makes every connect here: lift the per-address limits
    env = {"CONNECT_RATE_PER_MINUTE": "1000000", "MAX_CONNECTIONS_PER_ADDRESS": "1000000"}
    results = []
    async with DevStack.start(env=env, record=False) as stack:
        workers = len(stack.invoker._all)
        for rooms, per_room in plan:
            r = await relay_phase(stack, rooms, per_room)
            results.append(r)
            print(
                f"{rooms:>4} rooms: {r['round_trips']} round trips, p50 {r['p50_ms']:.1f} ms, "
                f"p99 {r['p99_ms']:.1f} ms, {r['messages_per_s']:.0f} msg/s, "
                f"DynamoDB {r['dynamodb_calls_per_message']:.2f} calls/msg {r['dynamodb_calls']}",
                flush=True,
            )
    cold = cold_starts(3 if quick else 11)
    base = cold["baseline"]
    for name, seconds in cold.items():
        print(f"cold start {name:<10} {seconds * 1000:6.0f} ms  ({seconds / base:.2f}x)")

    scans = sum(r["dynamodb_calls"].get("Scan", 0) for r in results)
    rows = "\n".join(
        f"| {r['rooms']} | {r['round_trips']} | {r['p50_ms']:.1f} | {r['p99_ms']:.1f} | "
        f"{r['messages_per_s']:.0f} | {r['dynamodb_calls_per_message']:.2f} |"
        for r in results
    )
    cold_rows = "\n".join(
        f"| {name} | {seconds * 1000:.0f} | {seconds / base:.2f} |"
        for name, seconds in cold.items()
    )
    write_section(
        "bench_signalling",
        f"""## Signalling relay (`bench/bench_signalling.py`)

Round trip = A `signal`s B, B `signal`s back (two relayed messages), through
the local gateway: WebSocket → Lambda worker process running `lambdas/relay.py`
→ DynamoDB on moto's server (own process) → `@connections` POST → WebSocket.
All rooms run concurrently; {workers} Lambda worker processes. These measure
the local stack (moto dominates), not AWS.

| rooms | round trips | p50 ms | p99 ms | messages/s | DynamoDB calls / relayed message |
| ---: | ---: | ---: | ---: | ---: | ---: |
{rows}

DynamoDB calls counted at the moto server (by `X-Amz-Target`) while only
`signal`s flowed: `UpdateItem` (rate count + caller's room) and `Query` (the
room's slots) per message; Scans: {scans}. Target ≤ 2.

Cold start: import of each handler module (its imports, Powertools Logger,
Metrics, Tracer, settings and module-level clients: DynamoDB, and S3 for the relay,
which has the bucket as deployed) in a fresh interpreter, beside `import boto3` + one
DynamoDB client in the same run (median of interleaved runs; `LAMBDA_TASK_ROOT` set so
the X-Ray SDK takes its Lambda path, as in Lambda). Target ≤ {COLD_TARGET}×.

| module | ms | × baseline |
| --- | ---: | ---: |
{cold_rows}
"""
    )
    summary: list[tuple[str, float, float | None, bool]] = []
    for r, label in zip(results, ["1room", "50rooms", "200rooms"], strict=True):
        summary += [
            (f"relay_rtt_p50_ms_{label}", r["p50_ms"], None, False),
            (f"relay_rtt_p99_ms_{label}", r["p99_ms"], None, False),
            (f"relay_messages_per_s_{label}", r["messages_per_s"], None, True),
        ]
    summary.append(
        ("dynamodb_calls_per_relayed_message", results[0]["dynamodb_calls_per_message"], 2, False)
    )
    for name in ("connect", "disconnect", "relay"):
        summary.append((f"cold_start_ratio_{name}", cold[name] / base, COLD_TARGET, False))
    for metric, value, target, higher in summary:
        emit_summary(metric, value, target, higher)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer iterations (smoke run)")
    args = parser.parse_args()
    asyncio.run(run(args.quick))


if __name__ == "__main__":
    main()
