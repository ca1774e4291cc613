"""The S3 transport against moto's ThreadedMotoServer on 127.0.0.1: real HTTP to presigned URLs.

URLs come from the real relay service (in-memory repository and gateway) and
the real `S3Presigner`; moto does not check signatures or expiry (that logic is
tested in tests/unit/lambdas/test_storage_actions.py).
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from moto.server import ThreadedMotoServer

from lambdas.signalling.errors import SignallingError
from lambdas.signalling.memory import InMemoryRepository, RecordingGateway
from lambdas.signalling.messages import parse_message
from lambdas.signalling.relay_api import dispatch
from lambdas.signalling.service import SignallingService
from lambdas.signalling.settings import Settings
from transfer_core.protocol.keys import TransferKeys, derive_keys
from transfer_core.protocol.room import offer
from transfer_core.protocol.secret import TransferSecret
from transfer_core.s3.issuer import RelayUrlIssuer
from transfer_core.signalling.client import RelayError
from transfer_core.source import FileSource
from transfer_core.storage.presign import S3Presigner

BUCKET = "sgraph-send-test"
CREDS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}


@pytest.fixture(scope="session")
def moto_url() -> Iterator[str]:
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    os.environ.setdefault("MOTO_ALLOW_NONEXISTENT_REGION", "true")
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


def s3_client(url: str) -> Any:
    return boto3.client("s3", endpoint_url=url, region_name="us-east-1",
                        config=Config(signature_version="s3v4", s3={"addressing_style": "path"}),
                        **CREDS)


@dataclass
class Room:
    """One link: its keys, and a relay service in which the sender and receiver hold slots."""

    keys: TransferKeys
    service: SignallingService
    gateway: RecordingGateway
    s3: Any

    def issuer(self, connection_id: str) -> RelayUrlIssuer:
        async def request(body: dict[str, Any], timeout: float = 30.0) -> dict[str, Any]:
            try:
                dispatch(self.service, connection_id, parse_message(json.dumps(body)))
            except SignallingError as err:
                raise RelayError(err.code, err.message) from None
            return dict(json.loads(self.gateway.to(connection_id)[-1]))
        return RelayUrlIssuer(request)

    def objects(self) -> dict[str, bytes]:
        listing = self.s3.list_objects_v2(Bucket=BUCKET, Prefix=f"transfers/{self.keys.room_id}/")
        return {o["Key"]: self.s3.get_object(Bucket=BUCKET, Key=o["Key"])["Body"].read()
                for o in listing.get("Contents", [])}


@pytest.fixture
def room(moto_url: str) -> Room:
    s3 = s3_client(moto_url)
    s3.create_bucket(Bucket=BUCKET)
    keys = derive_keys(TransferSecret.generate())
    gateway = RecordingGateway()
    service = SignallingService(
        InMemoryRepository(), Settings(table_name="t", bucket_name=BUCKET), gateway,
        storage=S3Presigner(s3, BUCKET),
    )
    service.connect("S", ", ".join(offer(keys.room_key)), "sender", "A" * 22, "10.0.0.1")
    service.connect("R", ", ".join(offer(keys.room_key)), "receiver", "B" * 22, "10.0.0.2")
    return Room(keys, service, gateway, s3)


def make_source(path: Path, data: bytes, keys: TransferKeys, record_size: int = 65536,
                ) -> FileSource:
    path.write_bytes(data)
    return FileSource.create(path, keys.file_key, record_size)
