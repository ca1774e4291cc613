"""Part (b) of bench_p2p: our engine, as people run it — two `sgraph-send` processes
meeting through the local stack — and what one transfer costs the backend."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

ROOT = Path(__file__).resolve().parents[1]
CLI = [sys.executable, "-m", "transfer_core.cli"]

# AWS list prices, us-east-1, as published in 2026 (arm64 Lambda; DynamoDB on demand).
PRICE = {
    "ws_message": 1.00 / 1e6,  # API Gateway WebSocket, per message (32 KB increments)
    "ws_connection_minute": 0.25 / 1e6,
    "lambda_request": 0.20 / 1e6,
    "lambda_gb_second": 0.0000133334,  # arm64
    "ddb_write_unit": 0.625 / 1e6,
    "ddb_read_unit": 0.125 / 1e6,
    "s3_put": 0.005 / 1000,
    "s3_get": 0.0004 / 1000,
    "s3_gb_month": 0.023,
    "transfer_out_gb": 0.09,  # S3 to the internet; P2P traffic never touches AWS
}
LAMBDA_MEMORY_GB = 256 / 1024  # infra/stack.py
LAMBDA_BILLED_MS = 20  # assumed warm duration per invocation; cold starts are rarer
WRITES = {"PutItem", "UpdateItem", "DeleteItem", "TransactWriteItems", "BatchWriteItem"}
READS = {"GetItem", "Query", "BatchGetItem", "Scan"}


@dataclass
class EngineRun:
    """One CLI-to-CLI transfer through the local stack."""

    size: int
    mb_per_s: float
    seconds: float
    setup_ms: float
    sender_rss_mb: float
    receiver_rss_mb: float
    sender_cpu_s: float = 0.0
    """CPU seconds of the sender process from the transfer's first record to its exit."""
    receiver_cpu_s: float = 0.0
    """...and of the receiver process."""
    ws_in: int = 0
    ws_out: int = 0
    connections: int = 2
    connection_seconds: float = 0.0
    dynamodb: dict[str, int] = field(default_factory=dict)

    @property
    def mb_per_cpu_s(self) -> float:
        """MB per CPU-second of the busier process (as bench_p2p's raw figure)."""
        return self.size / 1e6 / max(self.sender_cpu_s, self.receiver_cpu_s, 1e-9)

    @property
    def lambda_invocations(self) -> int:
        """One per client message, plus `$connect` and `$disconnect` per connection."""
        return self.ws_in + 2 * self.connections

    def cost(self) -> dict[str, float]:
        writes = sum(n for op, n in self.dynamodb.items() if op in WRITES)
        reads = sum(n for op, n in self.dynamodb.items() if op in READS)
        return {
            "WebSocket messages": (self.ws_in + self.ws_out) * PRICE["ws_message"],
            "WebSocket connection minutes":
                self.connection_seconds / 60 * PRICE["ws_connection_minute"],
            "Lambda requests": self.lambda_invocations * PRICE["lambda_request"],
            "Lambda duration": self.lambda_invocations * LAMBDA_BILLED_MS / 1000
            * LAMBDA_MEMORY_GB * PRICE["lambda_gb_second"],
            "DynamoDB writes": writes * PRICE["ddb_write_unit"],
            "DynamoDB reads": reads * PRICE["ddb_read_unit"],
        }


class _PeakRss:
    """Polls a process's resident set size (keeps the peak) and its CPU time (keeps the
    samples, to find the CPU spent before the transfer began)."""

    def __init__(self, pid: int) -> None:
        self.peak = 0
        self.cpu: list[tuple[float, float]] = []
        """(monotonic time, user + system CPU seconds) every 20 ms."""
        self._proc = psutil.Process(pid)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.peak = max(self.peak, self._proc.memory_info().rss)
                times = self._proc.cpu_times()
                self.cpu.append((time.monotonic(), times.user + times.system))
            except psutil.Error:
                return
            time.sleep(0.02)

    def stop(self) -> float:
        self._stop.set()
        self._thread.join()
        return self.peak / 2**20

    def cpu_at(self, when: float) -> float:
        """CPU seconds used by `when` (the last sample at or before it)."""
        used = 0.0
        for at, cpu in self.cpu:
            if at > when:
                break
            used = cpu
        return used


def _finish(proc: subprocess.Popen[str], timeout: float) -> tuple[str, float]:
    """Read `proc`'s stdout to the end and reap it with `os.wait4`: its output and the
    exact CPU seconds (user + system) it used."""
    assert proc.stdout is not None
    box: list[str] = []
    reader = threading.Thread(target=lambda: box.append(proc.stdout.read()),  # type: ignore[union-attr]
                              daemon=True)
    reader.start()
    reader.join(timeout)
    if reader.is_alive():
        proc.kill()
        raise RuntimeError(f"process {proc.pid} did not finish within {timeout:g} s")
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return box[0], usage.ru_utime + usage.ru_stime


def _dynamodb_calls(endpoint: str, reset: bool = False) -> dict[str, int]:
    request = urllib.request.Request(f"{endpoint}/_devstack/dynamodb-calls",
                                     method="DELETE" if reset else "GET")
    with urllib.request.urlopen(request, timeout=10) as response:
        calls: dict[str, int] = json.loads(response.read())
        return calls


def _frames(record: Path, offset: int) -> list[dict[str, Any]]:
    with open(record, "rb") as fh:
        fh.seek(offset)
        return [json.loads(line) for line in fh if line.strip()]


def run_engine(ws_url: str, aws_endpoint: str, record: Path, path: Path, out: Path
               ) -> EngineRun:
    """Send `path` from one CLI process to another; measure speed, memory and backend use."""
    _dynamodb_calls(aws_endpoint, reset=True)
    offset = record.stat().st_size if record.exists() else 0
    sender = subprocess.Popen([*CLI, "send", str(path), "--server", ws_url, "--json"],
                              stdout=subprocess.PIPE, text=True, cwd=ROOT)
    assert sender.stdout is not None
    link = json.loads(sender.stdout.readline())
    sender_rss = _PeakRss(sender.pid)
    receiver = subprocess.Popen(
        [*CLI, "receive", link["code"], "-o", str(out), "--server", ws_url, "--json",
         "--force"], stdout=subprocess.PIPE, text=True, cwd=ROOT)
    receiver_rss = _PeakRss(receiver.pid)
    r_out, receiver_cpu = _finish(receiver, 1800)
    ended = time.monotonic()
    s_out, sender_cpu = _finish(sender, 60)
    received = json.loads(r_out.splitlines()[-1])
    sent = json.loads(s_out.splitlines()[-1])
    if received.get("event") != "summary" or sent.get("event") != "summary":
        raise RuntimeError(f"engine transfer failed: {received} / {sent}")
    # CPU of the transfer (and teardown): the total less what was spent before its first
    # record, like bench_p2p's raw peers (CPU from the channel's opening to the end)
    began = ended - received["seconds"]
    receiver_cpu -= receiver_rss.cpu_at(began)
    sender_cpu -= sender_rss.cpu_at(began)
    (out / path.name).unlink()
    time.sleep(0.5)  # let $disconnect run before counting
    frames = _frames(record, offset)
    first_at: dict[str, float] = {}
    last_at: dict[str, float] = {}
    for frame in frames:
        first_at.setdefault(frame["connection_id"], frame["at"])
        last_at[frame["connection_id"]] = frame["at"]
    signal_bytes = sum(len(base64.b64decode(f["data"])) for f in frames)
    run = EngineRun(
        size=received["size"], mb_per_s=received["mb_per_s"], seconds=received["seconds"],
        setup_ms=received["setup_ms"], sender_rss_mb=sender_rss.stop(),
        receiver_rss_mb=receiver_rss.stop(), sender_cpu_s=sender_cpu, receiver_cpu_s=receiver_cpu,
        ws_in=sum(1 for f in frames if f["direction"] == "in"),
        ws_out=sum(1 for f in frames if f["direction"] == "out"),
        connections=len(first_at),
        connection_seconds=sum(last_at[c] - first_at[c] for c in first_at),
        dynamodb=_dynamodb_calls(aws_endpoint),
    )
    run.dynamodb["_signal_bytes"] = signal_bytes
    return run


def record_write_share(connections: int) -> float:
    """USD of the batched write of the client address's record, spread over one transfer.

    `$connect` writes the address's record (the connect rate count and the connections
    the open-connection cap counts) once per batch of connects from one address and
    Lambda instance, so most measured transfers contain no such write and some one:
    this is its share per transfer, at the stack's defaults (lambdas/signalling).
    """
    from lambdas.signalling.service import COUNT_BATCH
    from lambdas.signalling.settings import Settings

    defaults = Settings(table_name="-")
    batch = max(1, min(COUNT_BATCH, defaults.connect_rate_per_minute // 8,
                       defaults.max_connections_per_address // 2))
    return connections / batch * PRICE["ddb_write_unit"]


def print_cost(run: EngineRun) -> None:
    """What one P2P transfer cost the backend, item by item (stdout)."""
    calls = ", ".join(f"{op} {n}" for op, n in sorted(run.dynamodb.items())
                      if not op.startswith("_"))
    print(f"backend use of one transfer: {run.ws_in} WebSocket messages in, {run.ws_out} out,"
          f" {run.lambda_invocations} Lambda invocations, DynamoDB: {calls}")
    for item, usd in run.cost().items():
        print(f"  {item:<30} ${usd:.8f}")
    total = sum(run.cost().values())
    share = record_write_share(run.connections)
    print(f"  {'per P2P transfer':<30} ${total:.8f}")
    print(f"  {'+ share of batched record write':<30} ${share:.8f}"
          f" (amortized: ${total + share:.8f})")


def s3_path_cost(size: int, part_size: int = 8 << 20, days: float = 1.0) -> dict[str, float]:
    """What the same file costs through S3 (seed §5.3): requests, a day of storage, egress."""
    parts = max(1, -(-size // part_size))
    gb = size / 1e9
    return {
        "S3 PUT (parts + manifest + create/complete)": (parts + 3) * PRICE["s3_put"],
        "S3 GET (ranged reads, 8 MiB)": (parts + 1) * PRICE["s3_get"],
        "S3 storage (1 day)": gb * PRICE["s3_gb_month"] * days / 30,
        "data transfer out": gb * PRICE["transfer_out_gb"],
    }
