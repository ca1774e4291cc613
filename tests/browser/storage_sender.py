"""Store a transfer in S3 the way the sender's fallback does (protocol.md §10), through
the relay's storage actions (signalling.md §6), then go offline: the browser receives
it from storage alone."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from websockets.sync.client import connect

from transfer_core.protocol.keys import derive_keys
from transfer_core.protocol.room import offer
from transfer_core.protocol.secret import TransferSecret
from transfer_core.signalling.client import new_token
from transfer_core.source import FileSource


def _request(ws: Any, action: str, ref: str, **fields: Any) -> dict[str, Any]:
    ws.send(json.dumps({"action": action, "ref": ref, **fields}))
    while True:
        reply = json.loads(ws.recv(timeout=15))
        if reply.get("ref") == ref:
            assert reply["type"] != "error", reply
            return reply


def _put(url: str, body: bytes) -> None:
    request = urllib.request.Request(
        url, data=body, method="PUT", headers={"Content-Type": "application/octet-stream"}
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        assert response.status == 200, response.status


def store_transfer(ws_url: str, path: Path, record_size: int = 64 * 1024,
                   tamper: Callable[[bytes], bytes] | None = None) -> str:
    """Seal `path`, store manifest and records (one object from index 0); return the code."""
    secret = TransferSecret.generate()
    keys = derive_keys(secret)
    with FileSource.create(path, keys.file_key, record_size) as source:
        records = b"".join(source.record(i) for i in range(source.layout.count))
        manifest = source.manifest_record
    if tamper is not None:
        records = tamper(records)
    url = f"{ws_url}?role=sender&token={new_token()}"
    with connect(url, subprotocols=offer(keys.room_key)) as ws:  # type: ignore[arg-type]
        _request(ws, "hello", "1")
        _put(_request(ws, "upload-start", "2", object="manifest", size=len(manifest))["url"],
             manifest)
        reply = _request(ws, "upload-start", "3", object="records", first=0, parts=0,
                         size=len(records))
        _put(reply["url"], records)
    return secret.code
