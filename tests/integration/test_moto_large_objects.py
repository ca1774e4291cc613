"""The local stack's moto (devstack/moto_large_objects.py: parts streamed into the object,
ranged GETs reading the range only) answers as moto itself does: the same bytes, ETag,
checksum and status for a multipart upload read whole and by ranges, as unpatched moto
in this process (`mock_aws`)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from devstack.moto_backend import CREDENTIALS, REGION, MotoBackend

MIB = 1 << 20
BUCKET = "big-objects"
PARTS = (os.urandom(5 * MIB), os.urandom(5 * MIB + 17), os.urandom(MIB // 3))
DATA = b"".join(PARTS)
RANGES = ("bytes=0-0", "bytes=3-70000", f"bytes={5 * MIB - 5}-{5 * MIB + 5}",
          f"bytes={len(DATA) - 9}-", f"bytes=100-{len(DATA) + 50}", "bytes=-1000",
          "bytes=70-60", "bytes=0-10,20-30")


def _observe(s3: Any) -> Iterator[tuple[str, Any]]:
    s3.create_bucket(Bucket=BUCKET)
    upload = s3.create_multipart_upload(Bucket=BUCKET, Key="k")["UploadId"]
    etags = [s3.upload_part(Bucket=BUCKET, Key="k", UploadId=upload, PartNumber=n + 1,
                            Body=part)["ETag"] for n, part in enumerate(PARTS)]
    done = s3.complete_multipart_upload(
        Bucket=BUCKET, Key="k", UploadId=upload,
        MultipartUpload={"Parts": [{"ETag": e, "PartNumber": n + 1}
                                   for n, e in enumerate(etags)]})
    yield "complete", {k: v for k, v in done.items() if k.startswith(("ETag", "Checksum"))}
    whole = s3.get_object(Bucket=BUCKET, Key="k")
    yield "whole", (whole["Body"].read() == DATA, whole["ETag"], whole["ContentLength"])
    for spec in RANGES:
        got = s3.get_object(Bucket=BUCKET, Key="k", Range=spec)
        yield spec, (got["ResponseMetadata"]["HTTPStatusCode"], got.get("ContentRange"),
                     got["Body"].read())
    with pytest.raises(ClientError) as refused:
        s3.get_object(Bucket=BUCKET, Key="k", Range=f"bytes={len(DATA)}-")
    yield "past the end", refused.value.response["Error"]["Code"]


def test_the_local_stack_moto_answers_as_moto_does(tmp_path):
    server = MotoBackend("t", "unused-bucket")
    server.start()
    try:
        patched = dict(_observe(server.client("s3")))
    finally:
        server.stop()
    with mock_aws():
        plain = dict(_observe(boto3.client("s3", region_name=REGION, **CREDENTIALS)))
    assert patched["whole"][0] is True
    assert patched[f"bytes={len(DATA) - 9}-"][2] == DATA[-9:]
    assert patched == plain
