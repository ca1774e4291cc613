"""The protocol's test vectors: the code reproduces them, and so does the spec alone."""

import base64
import hashlib
import hmac
import json
import re
import struct
from pathlib import Path

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.hashes import SHA256
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from transfer_core.protocol import vectors

DOCS = Path(__file__).resolve().parents[2] / "docs"
COMMITTED = json.loads((DOCS / "test-vectors.json").read_text())


def test_code_reproduces_committed_vectors():
    assert vectors.compute() == COMMITTED


def test_protocol_doc_carries_the_same_vectors():
    text = (DOCS / "protocol.md").read_text()
    block = re.search(r"<!-- vectors -->\n```json\n(.*?)\n```", text, re.S)
    assert block is not None
    assert json.loads(block.group(1)) == COMMITTED


def hkdf(ikm: bytes, salt: bytes, info: str, n: int) -> bytes:
    return HKDF(SHA256(), n, salt, info.encode()).derive(ikm)


def test_vectors_follow_from_the_spec_alone():
    """An independent implementation of docs/protocol.md §2–3, from primitives only."""
    secret = bytes.fromhex(COMMITTED["secret_hex"])
    salt = b"sgraph-send/v1"
    room_key = hkdf(secret, salt, "sgraph-send/v2/room-key", 32)
    assert room_key.hex() == COMMITTED["room_key_hex"]
    assert hashlib.sha256(room_key).digest()[:16].hex() == COMMITTED["room_id"]
    key_b64 = base64.urlsafe_b64encode(room_key).rstrip(b"=").decode()
    assert COMMITTED["connect_subprotocols"] == ["sgraph-send.v2", f"sgraph-send.key.{key_b64}"]
    file_key = hkdf(secret, salt, "sgraph-send/v1/file-key", 32)
    assert file_key.hex() == COMMITTED["file_key_hex"]
    assert hkdf(secret, salt, "sgraph-send/v1/signal-key", 32).hex() == COMMITTED["signal_key_hex"]
    tid = bytes.fromhex(COMMITTED["transfer_id_hex"])
    rkey = hkdf(file_key, tid, "sgraph-send/v1/record-key", 32)
    assert rkey.hex() == COMMITTED["record_key_hex"]
    check = hmac.new(rkey, b"sgraph-send/v1/key-check", hashlib.sha256).digest()[:16]
    assert check.hex() == COMMITTED["key_check_hex"]

    small = COMMITTED["small_file"]
    content = small["content_utf8"].encode()
    header = struct.pack(">BBH16sIII", 1, 0x01, 0, tid, 0, 1, len(content))
    nonce = struct.pack(">IQ", 0, 0)
    record = header + AESGCM(rkey).encrypt(nonce, content, header)
    assert record.hex() == small["record_0_hex"]

    manifest = small["manifest_json"].encode()
    mheader = struct.pack(">BBH16sIII", 1, 0x03, 0, tid, 0, 1, len(manifest))
    aad = mheader + check
    mrecord = aad + AESGCM(rkey).encrypt(struct.pack(">IQ", 1, 0), manifest, aad)
    assert mrecord.hex() == small["manifest_record_hex"]
    doc = json.loads(manifest)
    assert doc["sha256"] == hashlib.sha256(content).hexdigest()


def test_signal_envelope_mac_follows_from_the_spec():
    env = COMMITTED["signal_envelope"]
    key = bytes.fromhex(COMMITTED["signal_key_hex"])
    mac = hmac.new(key, b"sgraph-send/v1/signal", hashlib.sha256)
    for field in ("1", env["kind"], env["role"], env["nonce"], env["reply_to"], env["data"]):
        data = field.encode()
        mac.update(struct.pack(">I", len(data)) + data)
    assert mac.hexdigest() == env["mac"]
