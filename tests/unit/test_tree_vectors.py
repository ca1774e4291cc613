"""Revision 2.1 (#15) vectors, the `tree` group: a second implementation from the spec
(docs/protocol.md, "Revision 2.1") agrees with them. Only primitives here, no transfer_core
code beyond the helpers of test_vectors (themselves from the spec)."""

from __future__ import annotations

import hashlib
import hmac
import json
import struct
from typing import Any

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from .test_vectors import COMMITTED, keys_from_spec, spec_count, spec_seal, spec_seal_manifest

TREE = COMMITTED["tree"]
PIECE = 4096


def spec_seal_manifest_records(rkey: bytes, tid: bytes, manifest: bytes) -> list[bytes]:
    """Pieces of 4096 bytes, records 0 … m-1 of count m, the last flag on the last."""
    pieces = [manifest[i:i + PIECE] for i in range(0, len(manifest), PIECE)]
    check = hmac.new(rkey, b"sgraph-send/v1/key-check", hashlib.sha256).digest()[:16]
    out = []
    for index, piece in enumerate(pieces):
        flags = 0x02 | (0x01 if index == len(pieces) - 1 else 0)
        header = struct.pack(">BBH16sIII", 1, flags, 0, tid, index, len(pieces), len(piece))
        aad = header + check
        out.append(aad + AESGCM(rkey).encrypt(struct.pack(">IQ", 1, index), piece, aad))
    return out


def canonical(doc: object) -> bytes:
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def test_the_tree_follows_from_the_spec():
    _, tid, rkey = keys_from_spec()
    small = COMMITTED["small_file"]["content_utf8"].encode()
    large = bytes(i % 251 for i in range(40_000))
    files = {"vectors/hello.txt": small, "vectors/sub/empty.txt": b"",
             "vectors/sub/pattern.bin": large}
    folders = ["vectors", "vectors/sub", "vectors/sub/empty"]
    order = sorted(list(files) + folders, key=lambda p: p.split("/"))
    # the walk's order: a folder, then its entries by name (pre-order)
    assert order == ["vectors", "vectors/hello.txt", "vectors/sub", "vectors/sub/empty",
                     "vectors/sub/empty.txt", "vectors/sub/pattern.bin"]
    entries = []
    for path in order:
        if path in files:
            entries.append({"kind": "file", "mtime": 1_767_225_600, "path": path,
                            "sha256": hashlib.sha256(files[path]).hexdigest(),
                            "size": len(files[path])})
        else:
            entries.append({"kind": "dir", "mtime": 1_767_225_600, "path": path})
    stream = b"".join(files[p] for p in order if p in files)
    doc: dict[str, Any] = {"v": 2, "entries": entries, "size": len(stream), "record_size": 16384,
           "chunk_count": spec_count(len(stream), 16384), "created": "2026-01-01T00:00:00Z"}
    manifest = canonical(doc)
    assert manifest.decode() == TREE["manifest_json"]
    assert spec_seal_manifest(rkey, tid, manifest).hex() == TREE["manifest_record_hex"]
    chunk = 16384 - 48
    count = doc["chunk_count"]
    records = [spec_seal(rkey, tid, i, count, stream[i * chunk:(i + 1) * chunk])
               for i in range(count)]
    assert [hashlib.sha256(r).hexdigest() for r in records] == TREE["record_sha256"]


def test_a_long_list_spans_several_manifest_records():
    _, tid, rkey = keys_from_spec()
    n = len(TREE["long_list"]["manifest_records_sha256"])
    files = {f"long/file-{i:04d}.txt": b"%d\n" % i for i in range(60)}
    entries = [{"kind": "dir", "mtime": 1_767_225_600, "path": "long"}] + [
        {"kind": "file", "mtime": 1_767_225_600, "path": p,
         "sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}
        for p, data in files.items()]
    size = sum(map(len, files.values()))
    manifest = canonical({"v": 2, "entries": entries, "size": size, "record_size": 16384,
                          "chunk_count": spec_count(size, 16384),
                          "created": "2026-01-01T00:00:00Z"})
    assert hashlib.sha256(manifest).hexdigest() == TREE["long_list"]["manifest_json_sha256"]
    records = spec_seal_manifest_records(rkey, tid, manifest)
    assert len(records) == n > 1
    assert [len(r) for r in records] == TREE["long_list"]["manifest_record_lengths"]
    assert [hashlib.sha256(r).hexdigest() for r in records] == \
        TREE["long_list"]["manifest_records_sha256"]


def test_path_and_list_vectors_name_each_rule():
    reasons = {case["reason"] for case in TREE["paths"]}
    assert {None, "empty", "absolute", "dot-segment", "empty-segment", "separator",
            "control", "reserved-name", "too-long"} <= reasons
    assert {case["reason"] for case in TREE["lists"]} == {"collision", "file-in-file"}
