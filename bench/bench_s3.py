"""S3 fallback throughput: our encrypted presigned-multipart upload and download beside
boto3's TransferManager (`upload_file` / `download_file`, unencrypted) of the same bytes,
against one moto server (its own process, werkzeug logging off), in one run.

Ours: records sealed from the file in worker threads, 8 MiB parts of whole records,
URLs from the real relay service (in-memory repository) and the real presigner, PUT/GET
over urllib3; the download verifies every record at its index and writes it at its
offset, its progress record written from its own thread as the receiving session does.
Each measurement runs in a fresh child process, so its peak RSS is its own.

Target: ours ≥ 0.9 × boto3 each way; peak RSS flat in file size.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._report import summary, write_section  # noqa: E402

MIB = 1 << 20
SIZES_MIB = (64, 256)
ROUNDS = 5
SECRET = bytes(range(32))


def _rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _s3(endpoint: str) -> Any:
    import boto3
    from botocore.config import Config

    return boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                        aws_access_key_id="testing", aws_secret_access_key="testing",
                        config=Config(signature_version="s3v4", s3={"addressing_style": "path"},
                                      max_pool_connections=16))


def _issuer(endpoint: str, bucket: str, role_id: str) -> Any:
    from lambdas.signalling.errors import SignallingError
    from lambdas.signalling.memory import InMemoryRepository, RecordingGateway
    from lambdas.signalling.messages import parse_message
    from lambdas.signalling.relay_api import dispatch
    from lambdas.signalling.service import SignallingService
    from lambdas.signalling.settings import Settings
    from transfer_core.protocol.keys import derive_keys
    from transfer_core.protocol.room import offer
    from transfer_core.protocol.secret import TransferSecret
    from transfer_core.s3.issuer import RelayUrlIssuer
    from transfer_core.signalling.client import RelayError
    from transfer_core.storage.presign import S3Presigner

    keys = derive_keys(TransferSecret(SECRET))
    gateway = RecordingGateway()
    service = SignallingService(InMemoryRepository(), Settings(table_name="t", bucket_name=bucket),
                                gateway, storage=S3Presigner(_s3(endpoint), bucket))
    service.connect("S", ", ".join(offer(keys.room_key)), "sender", "A" * 22, "10.0.0.1")
    service.connect("R", ", ".join(offer(keys.room_key)), "receiver", "B" * 22, "10.0.0.2")

    async def request(body: dict[str, Any], timeout: float | None = None) -> dict[str, Any]:
        # in process the relay answers at once: there is no reply to wait `timeout` for
        try:
            dispatch(service, role_id, parse_message(json.dumps(body)))
        except SignallingError as err:
            raise RelayError(err.code, err.message) from None
        return dict(json.loads(gateway.to(role_id)[-1]))

    return keys, RelayUrlIssuer(request)


def child(kind: str, endpoint: str, bucket: str, data: Path, work: Path) -> dict[str, float]:
    """One measurement in this (fresh) process: seconds for the bytes, peak RSS."""
    from transfer_core.s3.http import HttpClient

    size = data.stat().st_size
    if kind == "boto3-up":
        s3 = _s3(endpoint)
        start = time.perf_counter()
        s3.upload_file(str(data), bucket, f"plain/{size}")
        return {"seconds": time.perf_counter() - start, "rss": _rss_mib()}
    if kind == "boto3-down":
        s3 = _s3(endpoint)
        start = time.perf_counter()
        s3.download_file(bucket, f"plain/{size}", str(work / "plain.out"))
        return {"seconds": time.perf_counter() - start, "rss": _rss_mib()}
    if kind == "ours-up":
        from transfer_core.s3.upload import upload_manifest, upload_records
        from transfer_core.source import FileSource

        keys, issuer = _issuer(endpoint, bucket, "S")

        async def up() -> float:
            http = HttpClient(pool_size=16)
            with FileSource.create(data, keys.file_key, 65536) as source:
                start = time.perf_counter()
                await upload_manifest(source, issuer, http)
                await upload_records(source, issuer, http, 0, concurrency=6)
                return time.perf_counter() - start

        return {"seconds": asyncio.run(up()), "rss": _rss_mib()}
    if kind == "ours-down":
        from transfer_core.s3.download import download_records, fetch_manifest
        from transfer_core.sink import PartialFile

        keys, issuer = _issuer(endpoint, bucket, "R")

        async def down() -> tuple[float, float]:
            http = HttpClient(pool_size=16)
            start = time.perf_counter()
            stored = await issuer.download()
            # progress written by its own thread, as the receiving session opens it
            partial = PartialFile.open(work / "ours", keys.file_key,
                                       await fetch_manifest(stored, http), background=True)
            await download_records(partial, stored, http, concurrency=6)
            took = time.perf_counter() - start
            start = time.perf_counter()
            partial.finalize(work)  # whole-file SHA-256, then the rename
            return took, time.perf_counter() - start

        took, finalize = asyncio.run(down())
        return {"seconds": took, "finalize": finalize, "rss": _rss_mib()}
    raise ValueError(kind)


def run_child(kind: str, endpoint: str, bucket: str, data: Path, work: Path) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, __file__, "--child", kind, "--endpoint", endpoint, "--bucket", bucket,
         "--data", str(data), "--work", str(work)],
        capture_output=True, text=True,
    )
    if out.returncode:
        raise RuntimeError(f"{kind} failed:\n{out.stderr[-3000:]}")
    result: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    from devstack.moto_backend import MotoBackend

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    moto = MotoBackend("bench-table", "bench-bucket")
    moto.start()
    kinds = ("boto3-up", "ours-up", "boto3-down", "ours-down")
    results: dict[tuple[int, str], list[dict[str, float]]] = {}
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for size_mib in SIZES_MIB:
                data = Path(tmp) / f"data-{size_mib}.bin"
                with open(data, "wb") as fh:
                    for _ in range(size_mib):
                        fh.write(os.urandom(MIB))
                for round_no in range(ROUNDS):
                    for kind in kinds:
                        work = Path(tmp) / f"{kind}-{size_mib}-{round_no}"
                        work.mkdir()
                        # each size is its own room: ours stores under the fixed secret's
                        # room, so clear it before each upload
                        if kind == "ours-up":
                            s3 = moto.client("s3")
                            for o in s3.list_objects_v2(Bucket="bench-bucket",
                                                        Prefix="transfers/").get("Contents", []):
                                s3.delete_object(Bucket="bench-bucket", Key=o["Key"])
                        r = run_child(kind, moto.endpoint_url, "bench-bucket", data, work)
                        results.setdefault((size_mib, kind), []).append(r)
                        mbps = size_mib * MIB / 1e6 / r["seconds"]
                        print(f"{size_mib:4d} MiB {kind:11s} {mbps:7.1f} MB/s "
                              f"{r['seconds']:6.2f} s  peak RSS {r['rss']:6.0f} MiB", flush=True)
                        shutil.rmtree(work)
                data.unlink()
    finally:
        moto.stop()

    big = SIZES_MIB[-1]

    def seconds(kind: str, size: int) -> float:
        return statistics.median(r["seconds"] for r in results[(size, kind)])

    def rss(kind: str, size: int) -> float:
        return max(r["rss"] for r in results[(size, kind)])

    def ratio(ours: str, theirs: str) -> float:
        """The median of the rounds' own ratios (the two ran back to back)."""
        return statistics.median(t["seconds"] / o["seconds"] for o, t in
                                 zip(results[(big, ours)], results[(big, theirs)], strict=True))

    def rate(kind: str, size: int = big) -> float:
        return size * MIB / 1e6 / seconds(kind, size)

    up_ratio = ratio("ours-up", "boto3-up")
    down_ratio = ratio("ours-down", "boto3-down")
    rss_growth = {k: rss(k, big) - rss(k, SIZES_MIB[0]) for k in ("ours-up", "ours-down")}
    finalize = statistics.median(r["finalize"] for r in results[(big, "ours-down")])
    table = "\n".join(
        f"| {size} MiB | {kind} | {rate(kind, size):.1f} | {seconds(kind, size):.2f} |"
        f" {rss(kind, size):.0f} |" for size in SIZES_MIB for kind in kinds
    )
    write_section("s3", f"""
## S3 fallback: encrypted presigned multipart vs boto3 TransferManager (`bench/bench_s3.py`)

One moto server (own process, werkzeug logging off) on 127.0.0.1; each run a fresh
process, {ROUNDS} rounds of the four runs back to back (the table: medians, and the
largest peak RSS). *ours*: records sealed from the file (AES-256-GCM, 64 KiB records), 8 MiB parts
of whole records sealed as they are sent, URLs from the relay service and presigner,
6 parallel PUT/GET over
urllib3; the download verifies every record at its expected index and writes it at its
offset (progress recorded from a worker thread, as the receiving session opens its
file). *boto3*: `upload_file` / `download_file` of the same bytes, unencrypted,
TransferManager defaults (8 MiB parts, 10 threads).

| file | what | MB/s | seconds | peak RSS (MiB) |
| --- | --- | --- | --- | --- |
{table}

- Upload, {big} MiB: ours / boto3 = **{up_ratio:.2f}×** (target ≥ 0.9×; the median of the
  rounds' own ratios, as below).
- Download, {big} MiB: ours / boto3 = **{down_ratio:.2f}×** (target ≥ 0.9×); the
  whole-file SHA-256 check before the rename adds {finalize:.2f} s (boto3 checks nothing).
- Peak RSS from {SIZES_MIB[0]} to {big} MiB: upload {rss_growth['ours-up']:+.0f} MiB,
  download {rss_growth['ours-down']:+.0f} MiB (flat: an upload part is sealed record by
  record as it is sent; a download holds at most 6 ranges of 8 MiB).
- Load average at the end of the run: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores
  (other work on the machine makes single runs noisy: compare ratios within one round).
""")
    summary("s3_upload_ratio_vs_boto3", up_ratio, 0.9, True)
    summary("s3_download_ratio_vs_boto3", down_ratio, 0.9, True)
    summary("s3_upload_mb_s", rate("ours-up"), None, True)
    summary("s3_download_mb_s", rate("ours-down"), None, True)
    summary("s3_rss_growth_mib", max(rss_growth.values()), 32.0, False)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--child")
    parser.add_argument("--endpoint")
    parser.add_argument("--bucket")
    parser.add_argument("--data", type=Path)
    parser.add_argument("--work", type=Path)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.endpoint, args.bucket, args.data, args.work)))
    else:
        main()
