"""What the fault tests share: a local stack whose S3 sits behind the fault proxy, and
helpers to watch a receiver's progress and to make awkward codes."""

from __future__ import annotations

import asyncio
import base64
import json
import os
from pathlib import Path

import boto3
import pytest

from devstack.process import DevStackProcess
from devstack.stack import StackInfo
from transfer_core.protocol.keys import derive_keys
from transfer_core.protocol.ranges import RangeSet
from transfer_core.protocol.secret import TransferSecret
from transfer_core.sink import work_dir_for

from .conftest import Stack
from .s3_fault_proxy import FaultPlan, S3FaultProxy


@pytest.fixture(scope="module")
def proxy():
    with S3FaultProxy() as proxy:
        yield proxy


@pytest.fixture(scope="module")
def stack(proxy, tmp_path_factory):
    record = tmp_path_factory.mktemp("stack") / "relayed.jsonl"
    with DevStackProcess("--env", f"AWS_ENDPOINT_URL_S3={proxy.url}",
                         record_to=record) as info:
        proxy.upstream = info.aws_endpoint_url
        yield Stack(info, record)


@pytest.fixture(autouse=True)
def no_faults(proxy):
    proxy.plan = FaultPlan(seed=0)
    proxy.injected.clear()


def dash_code() -> str:
    """A code that begins with `-` (new ones never do; older links may)."""
    while True:
        secret = TransferSecret(b"\xf8" + os.urandom(31))
        if secret.code.startswith("-"):
            return secret.code


def s3(info: StackInfo):
    return boto3.client("s3", endpoint_url=info.aws_endpoint_url, region_name=info.region,
                        aws_access_key_id="testing", aws_secret_access_key="testing")


async def wait_for_progress(out: Path, code: str, records: int, tries: int = 1200) -> int:
    """Until the receiver has saved at least `records` records (its progress record)."""
    progress = work_dir_for(out, derive_keys(TransferSecret.parse(code)).room_id)
    held = 0
    for _ in range(tries):
        await asyncio.sleep(0.02)
        try:
            doc = json.loads((progress / "progress.json").read_text())
            held = len(RangeSet.decode(base64.b64decode(doc["via"]["p2p"])))
        except (OSError, ValueError, KeyError):
            continue
        if held >= records:
            break
    return held
