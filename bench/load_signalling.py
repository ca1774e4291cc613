"""Bounded signalling load: rooms set up, signal and close, over and over, for S seconds.

    .venv/bin/python bench/load_signalling.py --server URL --rooms N --seconds S
    .venv/bin/python bench/load_signalling.py --rooms 8 --seconds 20   # starts a local stack

Each of N concurrent rooms loops: a sender and a receiver connect and say hello
(setup time: from the sender's connect until it hears the receiver joined), then
relay `--messages` signals each way (latency: send to receipt, one clock), then
close. It stops by itself after S seconds (rooms in flight get a short grace,
then are cancelled) and prints p50/p99 setup time, p50/p99 relayed-message
latency, rooms and messages per second, and the errors by kind, then SUMMARY
lines. `--server` may be a deployment's page address (its config.json names the
relay) or a `ws(s)://` URL; the same script runs against the local stack and a
real deployment. Against a deployment, mind `connectRatePerMinute` (per client
address; default 60): one machine making more connects is refused with 429, and
the script counts that as an error (docs/scaling.md).
Without `--server` it starts the local stack itself (with the per-address connect
limit lifted) and writes its figures to docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench._report import summary as emit_summary  # noqa: E402
from bench._report import write_section  # noqa: E402
from transfer_core.discovery import discover, is_page_url  # noqa: E402
from transfer_core.protocol.keys import derive_keys  # noqa: E402
from transfer_core.protocol.secret import TransferSecret  # noqa: E402
from transfer_core.signalling.client import (  # noqa: E402
    PeerJoined,
    SignalClient,
    SignalReceived,
    new_token,
)

GRACE_SECONDS = 10.0


@dataclass
class Results:
    """What every room measured."""

    setup_ms: list[float] = field(default_factory=list)
    latency_ms: list[float] = field(default_factory=list)
    rooms: int = 0
    messages: int = 0
    errors: Counter[str] = field(default_factory=Counter)


async def _next(client: SignalClient, kind: type, timeout: float) -> Any:
    while True:
        event = await asyncio.wait_for(client.events.get(), timeout)
        if isinstance(event, kind):
            return event


async def one_room(url: str, messages: int, timeout: float, results: Results) -> None:
    """Set up one room, relay `messages` signals each way, close it."""
    keys = derive_keys(TransferSecret.generate())
    start = time.perf_counter()
    sender = await SignalClient.connect(url, keys.room_key, "sender", new_token(), timeout)
    receiver: SignalClient | None = None
    try:
        await sender.hello()
        receiver = await SignalClient.connect(url, keys.room_key, "receiver", new_token(),
                                              timeout)
        await receiver.hello()
        await _next(sender, PeerJoined, timeout)
        results.setup_ms.append((time.perf_counter() - start) * 1000)
        for n in range(messages):
            for a, b in ((sender, receiver), (receiver, sender)):
                sent = time.perf_counter()
                await a.signal({"n": n, "pad": "x" * 400})  # about an ICE candidate's size
                await _next(b, SignalReceived, timeout)
                results.latency_ms.append((time.perf_counter() - sent) * 1000)
                results.messages += 1
        results.rooms += 1
    finally:
        await sender.close()
        if receiver is not None:
            await receiver.close()


async def room_loop(url: str, deadline: float, messages: int, timeout: float,
                    results: Results) -> None:
    while time.monotonic() < deadline:
        try:
            await one_room(url, messages, timeout, results)
        except Exception as exc:  # counted, never fatal: this measures failures too
            kind = type(exc).__name__
            status = getattr(exc, "status", None)
            results.errors[f"{kind} {status}" if status else kind] += 1
            await asyncio.sleep(0.2)


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


async def run(url: str, rooms: int, seconds: float, messages: int, timeout: float) -> Results:
    results = Results()
    deadline = time.monotonic() + seconds
    tasks = [asyncio.create_task(room_loop(url, deadline, messages, timeout, results))
             for _ in range(rooms)]
    _, pending = await asyncio.wait(tasks, timeout=seconds + GRACE_SECONDS)
    for task in pending:  # bounded: whatever is still in flight is cut off
        task.cancel()
        results.errors["cut off at the deadline"] += 1
    for task in pending:
        with contextlib.suppress(asyncio.CancelledError):
            await task
    return results


def report(results: Results, rooms: int, seconds: float) -> str:
    errors = ", ".join(f"{k}: {v}" for k, v in results.errors.most_common()) or "none"
    return "\n".join([
        "| figure | value |",
        "| --- | --- |",
        f"| concurrent rooms | {rooms} |",
        f"| duration | {seconds:g} s |",
        f"| rooms completed | {results.rooms} ({results.rooms / seconds:.1f}/s) |",
        f"| relayed messages | {results.messages} ({results.messages / seconds:.1f}/s) |",
        f"| setup p50 / p99 | {pct(results.setup_ms, 50):.0f} / "
        f"{pct(results.setup_ms, 99):.0f} ms |",
        f"| relayed latency p50 / p99 | {pct(results.latency_ms, 50):.1f} / "
        f"{pct(results.latency_ms, 99):.1f} ms |",
        f"| errors | {errors} |",
    ])


async def main_async(args: argparse.Namespace) -> int:
    if args.server:
        url = args.server
        if is_page_url(url):
            url = (await asyncio.to_thread(discover, url)).server
        results = await run(url, args.rooms, args.seconds, args.messages, args.timeout)
        table = report(results, args.rooms, args.seconds)
    else:
        from devstack import DevStack

        # one client address makes every connect here: lift the per-address limits
        async with DevStack.start(record=False, env={"CONNECT_RATE_PER_MINUTE": "1000000",
                                                     "MAX_CONNECTIONS_PER_ADDRESS": "1000000"}
                                  ) as stack:
            url = stack.ws_url
            results = await run(url, args.rooms, args.seconds, args.messages, args.timeout)
        table = report(results, args.rooms, args.seconds)
        write_section("load-signalling", "## Signalling under load (`bench/load_signalling.py`)"
                      "\n\nThe local stack (moto, the real handlers in worker processes, the "
                      "gateway emulator) on this machine; each room: two connects, two "
                      f"hellos, {args.messages} signals each way.\n\n" + table)
    print(f"signalling load against {url}")
    print(table)
    emit_summary("load_setup_p99_ms", pct(results.setup_ms, 99), None, False)
    emit_summary("load_relay_latency_p99_ms", pct(results.latency_ms, 99), None, False)
    emit_summary("load_rooms_per_second", results.rooms / args.seconds, None, True)
    emit_summary("load_errors", float(sum(results.errors.values())), 0, False)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--server", help="page address or ws(s):// URL (default: a local stack)")
    parser.add_argument("--rooms", type=int, default=8, help="concurrent rooms (8)")
    parser.add_argument("--seconds", type=float, default=20.0, help="how long to run (20)")
    parser.add_argument("--messages", type=int, default=10,
                        help="signals each way per room, like offer/answer/candidates (10)")
    parser.add_argument("--timeout", type=float, default=15.0,
                        help="seconds one step may take before it counts as an error (15)")
    args = parser.parse_args(argv)
    if args.rooms < 1 or args.seconds <= 0:
        parser.error("--rooms must be at least 1 and --seconds positive")
    return asyncio.run(main_async(args))


if __name__ == "__main__":
    sys.exit(main())
