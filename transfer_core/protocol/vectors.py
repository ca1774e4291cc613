"""The protocol's test vectors, computed from fixed inputs (docs/test-vectors.json).

`python -m transfer_core.protocol.vectors > docs/test-vectors.json` regenerates the file; the tests
recompute every value and compare it with the committed file and with docs/protocol.md.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
from pathlib import Path
from typing import Any

from ..signalling.envelope import SignedMessage
from ..source import FileSource
from .keys import derive_keys, key_check, record_key
from .layout import DEFAULT_RECORD_SIZE
from .room import offer
from .secret import TransferSecret

SECRET = bytes(range(32))
TRANSFER_ID = bytes(range(0xA0, 0xB0))
CREATED = "2026-01-01T00:00:00Z"
SMALL_NAME = "vector.txt"
SMALL_FILE = b"SGraph Send test vector: hello, receiver.\n"
LARGE_NAME = "pattern.bin"
LARGE_SIZE = 40_000  # three records at the default record size


def large_file() -> bytes:
    return bytes(i % 251 for i in range(LARGE_SIZE))


def _source(directory: Path, name: str, data: bytes, file_key: bytes) -> FileSource:
    path = directory / name
    path.write_bytes(data)
    return FileSource.create(
        path, file_key, DEFAULT_RECORD_SIZE, randbytes=lambda n: TRANSFER_ID[:n],
        clock=lambda: CREATED,
    )


def compute() -> dict[str, Any]:
    """Every vector, as the JSON document committed in docs/."""
    secret = TransferSecret(SECRET)
    keys = derive_keys(secret)
    rec_key = record_key(keys.file_key, TRANSFER_ID)
    with tempfile.TemporaryDirectory() as tmp:
        small = _source(Path(tmp), SMALL_NAME, SMALL_FILE, keys.file_key)
        large = _source(Path(tmp), LARGE_NAME, large_file(), keys.file_key)
        doc = {
            "secret_hex": SECRET.hex(),
            "code": secret.code,
            "link": secret.link("https://send.sgraph.ai/"),
            "room_key_hex": keys.room_key.hex(),
            "room_id": keys.room_id,
            "connect_subprotocols": offer(keys.room_key),
            "file_key_hex": keys.file_key.hex(),
            "signal_key_hex": keys.signal_key.hex(),
            "transfer_id_hex": TRANSFER_ID.hex(),
            "record_key_hex": rec_key.hex(),
            "key_check_hex": key_check(rec_key).hex(),
            "small_file": {
                "name": SMALL_NAME,
                "content_utf8": SMALL_FILE.decode(),
                "manifest_json": small.manifest.to_json().decode(),
                "manifest_record_hex": small.manifest_record.hex(),
                "record_0_hex": small.record(0).hex(),
            },
            "signal_envelope": SignedMessage(
                "offer", "sender", "00" * 16, "11" * 16, "v=0\r\na=fingerprint:sha-256 AB:CD\r\n"
            ).to_payload(keys.signal_key),
            "large_file": {
                "name": LARGE_NAME,
                "content": "byte i is i mod 251, for i in 0..39999",
                "manifest_json": large.manifest.to_json().decode(),
                "manifest_record_sha256": hashlib.sha256(large.manifest_record).hexdigest(),
                "record_sha256": [
                    hashlib.sha256(large.record(i)).hexdigest()
                    for i in range(large.layout.count)
                ],
            },
        }
        small.close()
        large.close()
    return doc


def main() -> None:
    print(json.dumps(compute(), indent=2))


if __name__ == "__main__":
    main()
