"""`bench/bench_s3.py`'s own upload and download children, on 9 MiB against moto.

`make bench` is not part of `make test`, so a bench that no longer fits the library
it measures went unnoticed until a full run (its in-process relay once lacked the
`timeout` that `upload-complete` passes). This runs the children the bench times,
each in a process of its own as the bench does, over more than one part (so the
multipart upload and its `upload-complete` run), and checks the bytes came back.
"""

from __future__ import annotations

import os
from pathlib import Path

from bench import bench_s3
from tests.integration.s3.conftest import s3_client
from transfer_core.storage.layout import PART_TARGET_BYTES

BUCKET = "bench-bucket"


def test_the_benchmark_uploads_and_downloads_through_the_relay(moto_url: str,
                                                               tmp_path: Path) -> None:
    s3_client(moto_url).create_bucket(Bucket=BUCKET)
    data = tmp_path / "data.bin"
    data.write_bytes(os.urandom(PART_TARGET_BYTES + (1 << 20)))  # two parts
    results = {}
    for kind in ("ours-up", "ours-down"):
        work = tmp_path / kind
        work.mkdir()
        results[kind] = bench_s3.run_child(kind, moto_url, BUCKET, data, work)
    assert results["ours-up"]["seconds"] > 0 and results["ours-down"]["seconds"] > 0
    downloaded = [p for p in (tmp_path / "ours-down").iterdir() if p.is_file()]
    assert [p.read_bytes() == data.read_bytes() for p in downloaded] == [True], downloaded
