"""The protocol's test vectors: the code reproduces them, and so does the spec alone."""

import base64
import hashlib
import hmac
import json
import re
import struct
from pathlib import Path

from cryptography.exceptions import InvalidTag
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


# --- the groups of issue #10 §5, each checked by a second implementation from the spec ------
# Everything below uses only primitives and docs/protocol.md: no transfer_core code.

SALT = b"sgraph-send/v1"


def keys_from_spec() -> tuple[bytes, bytes, bytes]:
    secret = bytes.fromhex(COMMITTED["secret_hex"])
    file_key = hkdf(secret, SALT, "sgraph-send/v1/file-key", 32)
    tid = bytes.fromhex(COMMITTED["transfer_id_hex"])
    return file_key, tid, hkdf(file_key, tid, "sgraph-send/v1/record-key", 32)


def spec_seal(rkey: bytes, tid: bytes, index: int, count: int, plaintext: bytes) -> bytes:
    flags = 0x01 if index == count - 1 else 0
    header = struct.pack(">BBH16sIII", 1, flags, 0, tid, index, count, len(plaintext))
    return header + AESGCM(rkey).encrypt(struct.pack(">IQ", 0, index), plaintext, header)


def spec_seal_manifest(rkey: bytes, tid: bytes, manifest: bytes) -> bytes:
    header = struct.pack(">BBH16sIII", 1, 0x03, 0, tid, 0, 1, len(manifest))
    check = hmac.new(rkey, b"sgraph-send/v1/key-check", hashlib.sha256).digest()[:16]
    aad = header + check
    return aad + AESGCM(rkey).encrypt(struct.pack(">IQ", 1, 0), manifest, aad)


def spec_count(size: int, record_size: int) -> int:
    return max(1, -(-size // (record_size - 48)))


def spec_manifest_json(name, size, media_type, record_size, sha256, created) -> str:
    doc = {"v": 1, "name": name, "size": size, "media_type": media_type,
           "record_size": record_size, "chunk_count": spec_count(size, record_size),
           "sha256": sha256, "created": created}
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def pattern(size: int) -> bytes:
    return bytes(i % 251 for i in range(size))


def test_record_size_choice_follows_the_formula():
    for case in COMMITTED["record_size_choice"]:
        p, m = case["preferred"], case["max_message_size"]
        if m == "no peer":
            m = 262144
        elif m is None:
            m = 65536
        elif m == 0:
            m = 262144
        assert case["record_size"] == max(16384, min(p, m, 262144)), case


def test_max_packet_vectors_follow_the_rule():
    """Revision 2.5: the attribute's first line says 1-6 digits or nothing; a peer adds
    it once, right after a=max-message-size (else m=application), else leaves the SDP."""
    reading = COMMITTED["max_packet"]["reading"]
    for case in reading:
        found = re.search(r"^a=sgraph-max-packet:(.*?)\r?$", case["sdp"], re.M)
        value = found.group(1).strip() if found else ""
        want = int(value) if re.fullmatch(r"[0-9]{1,6}", value) else None
        assert case["said"] == want, case["case"]
    assert {c["said"] for c in reading} == {None, 2048, 16384, 1400}
    for case in COMMITTED["max_packet"]["writing"]:
        sdp, written = case["sdp"], case["written"]
        line = f"a=sgraph-max-packet:{case['size']}"
        if "a=sgraph-max-packet:" in sdp or "m=application" not in sdp:
            assert written == sdp, case["case"]
            continue
        lines = written.splitlines()
        at = lines.index(line)
        assert lines[at - 1].startswith("a=max-message-size:" if "a=max-message-size:" in sdp
                                        else "m=application"), case["case"]
        newline = "\r\n" if "\r\n" in sdp else "\n"
        assert written.replace(line + newline, "", 1) == sdp, case["case"]


def varint(value: int) -> bytes:
    out = bytearray()
    while True:
        out.append((value & 0x7F) | (0x80 if value >> 7 else 0))
        value >>= 7
        if not value:
            return bytes(out)


def spec_ranges_form(universe: int, ranges: list) -> bytes:
    out, cursor = bytearray([1]) + varint(universe) + varint(len(ranges)), 0
    for start, end in ranges:
        out += varint(start - cursor) + varint(end - start)
        cursor = end
    return bytes(out)


def spec_bitmap_form(universe: int, ranges: list) -> bytes:
    bits = bytearray((universe + 7) // 8)
    for start, end in ranges:
        for i in range(start, end):
            bits[i // 8] |= 1 << (i % 8)
    return bytes([2]) + varint(universe) + bytes(bits)


def spec_decode_ranges(data: bytes) -> tuple[int, list]:
    """§5's decoder; ValueError for anything the spec does not allow."""
    pos = 1

    def get() -> int:
        nonlocal pos
        value = shift = 0
        while True:
            if pos >= len(data) or shift > 63:
                raise ValueError("truncated or too long varint")
            byte = data[pos]
            pos += 1
            value |= (byte & 0x7F) << shift
            shift += 7
            if not byte & 0x80:
                return value

    if not data:
        raise ValueError("empty")
    universe = get()
    ranges: list[list[int]] = []
    if data[0] == 1:
        cursor = 0
        for _ in range(get()):
            gap, length = get(), get()
            if length == 0 or (gap == 0 and ranges) or cursor + gap + length > universe:
                raise ValueError("bad range")
            ranges.append([cursor + gap, cursor + gap + length])
            cursor += gap + length
        if pos != len(data):
            raise ValueError("trailing bytes")
    elif data[0] == 2:
        bits = data[pos:]
        if len(bits) != (universe + 7) // 8:
            raise ValueError("bitmap length")
        held = [i for i in range(len(bits) * 8) if bits[i // 8] >> (i % 8) & 1]
        if any(i >= universe for i in held):
            raise ValueError("bit past the universe")
        for i in held:
            if ranges and ranges[-1][1] == i:
                ranges[-1][1] += 1
            else:
                ranges.append([i, i + 1])
    else:
        raise ValueError("unknown format")
    return universe, ranges


def test_range_vectors_follow_from_the_spec():
    for case in COMMITTED["ranges"]:
        universe, ranges = case["universe"], case["ranges"]
        as_ranges = spec_ranges_form(universe, ranges)
        as_bitmap = spec_bitmap_form(universe, ranges)
        assert as_ranges.hex() == case["ranges_hex"]
        assert as_bitmap.hex() == case["bitmap_hex"]
        shorter = as_ranges if len(as_ranges) <= len(as_bitmap) else as_bitmap
        assert shorter.hex() == case["encoded_hex"]
        assert spec_decode_ranges(as_ranges) == (universe, ranges)
        assert spec_decode_ranges(as_bitmap) == (universe, ranges)


def test_progress_vector_follows_from_the_spec():
    group = COMMITTED["progress"]
    count = group["count"]

    def b64(ranges: list) -> str:
        a, b = spec_ranges_form(count, ranges), spec_bitmap_form(count, ranges)
        return base64.b64encode(a if len(a) <= len(b) else b).decode()

    doc = {"v": 1, "transfer_id": group["transfer_id_hex"], "count": count,
           "via": {"p2p": b64(group["p2p"]), "s3": b64(group["s3"])}}
    assert json.dumps(doc, sort_keys=True, separators=(",", ":")) == group["json"]
    held = {i for r in group["p2p"] + group["s3"] for i in range(*r)}
    missing = {i for r in group["missing"] for i in range(*r)}
    assert held | missing == set(range(count)) and not held & missing


def test_64k_and_empty_file_vectors_follow_from_the_spec():
    _, tid, rkey = keys_from_spec()
    for group, content, size, record_size, media in (
        (COMMITTED["record_size_64k"], pattern(70_000), 70_000, 65536, "application/octet-stream"),
        (COMMITTED["empty_file"], b"", 0, 65536, "application/octet-stream"),
    ):
        manifest = spec_manifest_json(group["name"], size, media, record_size,
                                      hashlib.sha256(content).hexdigest(), "2026-01-01T00:00:00Z")
        assert manifest == group["manifest_json"]
        chunk = record_size - 48
        count = spec_count(size, record_size)
        records = [spec_seal(rkey, tid, i, count, content[i * chunk:(i + 1) * chunk])
                   for i in range(count)]
        sealed_manifest = spec_seal_manifest(rkey, tid, manifest.encode())
        assert all(len(r) <= record_size for r in records)
        if "records_hex" in group:
            assert [r.hex() for r in records] == group["records_hex"]
            assert sealed_manifest.hex() == group["manifest_record_hex"]
        else:
            assert [hashlib.sha256(r).hexdigest() for r in records] == group["record_sha256"]
            assert hashlib.sha256(sealed_manifest).hexdigest() == group["manifest_record_sha256"]
    assert len(COMMITTED["record_size_64k"]["record_sha256"]) == 2
    assert len(bytes.fromhex(COMMITTED["empty_file"]["records_hex"][0])) == 48


def test_stored_layout_follows_from_the_spec():
    group = COMMITTED["stored_layout"]
    room = COMMITTED["room_id"]
    _, tid, rkey = keys_from_spec()
    content = pattern(40_000)
    records = [spec_seal(rkey, tid, i, 3, content[i * 16336:(i + 1) * 16336]) for i in range(3)]
    assert group["manifest_key"] == f"transfers/{room}/manifest"
    assert group["manifest_size"] == 64 + len(COMMITTED["large_file"]["manifest_json"].encode())
    for obj in group["objects"]:
        first = obj["first"]
        assert obj["key"] == f"transfers/{room}/records/{first:010d}"
        body = b"".join(records[first:])
        assert obj["size"] == len(body) == (3 - 1 - first) * 16384 + len(records[-1])
        assert obj["sha256"] == hashlib.sha256(body).hexdigest()
        for entry in obj["records"]:
            i = entry["index"]
            assert entry["offset"] == (i - first) * 16384
            assert body[entry["offset"]:entry["offset"] + entry["length"]] == records[i]
    for plan in group["part_plans"]:
        r, first, size = plan["record_size"], plan["first"], plan["size"]
        count = spec_count(size, r)
        last = 48 + size - (count - 1) * (r - 48)
        n = count - first
        k = max(-(-8 * 2**20 // r), -(-n // 10000))
        assert (plan["count"], plan["last_record_bytes"]) == (count, last)
        assert plan["object_bytes"] == (count - 1 - first) * r + last
        assert (plan["records_per_part"], plan["parts"]) == (k, -(-n // k))
        assert plan["parts"] <= 10000 and (plan["parts"] == 1 or k * r >= 5 * 2**20)
        for p, start, stop in plan["part_records"]:
            assert (start, stop) == (first + (p - 1) * k, min(first + p * k, count))


# --- failures: a second opener that follows the order of the checks in the spec ------------


def spec_parse_link(text: str) -> bytes:
    """§1, step by step; raises ValueError(error name)."""
    text = text.strip(" \t\n\v\f\r")
    if "#" in text:
        code = text.split("#", 1)[1]
    elif "://" in text or text[:1] in ("/", "?"):
        raise ValueError("missing-fragment")
    else:
        code = text
    if not re.fullmatch(r"[A-Za-z0-9_-]*", code):
        raise ValueError("bad-alphabet")
    if len(code) != 43:
        raise ValueError("wrong-length")
    raw = base64.urlsafe_b64decode(code + "=")
    if base64.urlsafe_b64encode(raw).rstrip(b"=").decode() != code:
        raise ValueError("bad-alphabet")
    return raw


def spec_open_data(rkey, tid, count, size, record, expected):
    """§3's data-record checks, in order; returns the plaintext or raises ValueError(error)."""
    chunk = 16384 - 48
    if len(record) < 48:
        raise ValueError("malformed")
    version, flags, reserved, rtid, index, rcount, length = struct.unpack(">BBH16sIII", record[:32])
    if version != 1 or reserved or flags & ~0x03 or flags & 0x02:
        raise ValueError("malformed")
    if rtid != tid:
        raise ValueError("foreign")
    if expected is not None and index != expected:
        raise ValueError("misplaced")
    if rcount != count or index >= count or bool(flags & 1) != (index == count - 1):
        raise ValueError("tampered")
    if length != min(chunk, size - index * chunk) or len(record) != 48 + length:
        raise ValueError("tampered")
    try:
        return AESGCM(rkey).decrypt(struct.pack(">IQ", 0, index), record[32:], record[:32])
    except InvalidTag:
        raise ValueError("tampered") from None


def spec_check_manifest(text: bytes) -> dict:
    """§4: fields, forms, names, then the canonical bytes; ValueError("manifest") if not."""
    try:
        doc = json.loads(text.decode())
    except (ValueError, RecursionError):
        raise ValueError("manifest") from None
    fields = {"v", "name", "size", "media_type", "record_size", "chunk_count", "sha256", "created"}
    ok = isinstance(doc, dict) and set(doc) == fields
    ok = ok and all(type(doc[f]) is int for f in ("v", "size", "record_size", "chunk_count"))
    ok = ok and all(type(doc[f]) is str for f in ("name", "media_type", "sha256", "created"))
    if not ok:
        raise ValueError("manifest")
    name = doc["name"]
    strings_valid = not any(re.search("[\ud800-\udfff]", doc[f])
                            for f in ("name", "media_type", "sha256", "created"))
    ok = (
        doc["v"] == 1 and strings_valid
        and 1 <= len(name.encode()) <= 255 and name not in (".", "..")
        and not re.search(r"[/\\\x00-\x1f\x7f-\x9f]", name)
        and re.fullmatch(r"[0-9a-f]{64}", doc["sha256"]) is not None
        and re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", doc["created"], re.A) is not None
        and 16384 <= doc["record_size"] <= 262144 and doc["size"] >= 0
    )
    if not ok or doc["chunk_count"] != spec_count(doc["size"], doc["record_size"]):
        raise ValueError("manifest")
    if json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode() != text:
        raise ValueError("manifest")
    return doc


def spec_open_manifest(file_key: bytes, record: bytes) -> dict:
    """§3's manifest-record checks, in order, then §4's."""
    if len(record) < 48:
        raise ValueError("malformed")
    version, flags, reserved, tid, index, count, length = struct.unpack(">BBH16sIII", record[:32])
    if version != 1 or reserved or flags & ~0x03 or not flags & 0x02:
        raise ValueError("malformed")
    if index != 0 or count != 1 or not flags & 0x01:
        raise ValueError("tampered")
    if length > 4096 or len(record) != 64 + length:
        raise ValueError("tampered")
    rkey = hkdf(file_key, tid, "sgraph-send/v1/record-key", 32)
    check = hmac.new(rkey, b"sgraph-send/v1/key-check", hashlib.sha256).digest()[:16]
    if not hmac.compare_digest(record[32:48], check):
        raise ValueError("wrong-key")
    try:
        text = AESGCM(rkey).decrypt(struct.pack(">IQ", 1, 0), record[48:], record[:48])
    except InvalidTag:
        raise ValueError("tampered") from None
    return spec_check_manifest(text)


def outcome(fn, *args) -> str | None:
    try:
        fn(*args)
    except ValueError as exc:
        return str(exc)
    return None


def test_failure_vectors_follow_from_the_spec():
    failures = COMMITTED["failures"]
    assert {e["error"] for e in failures["links"]} == {
        None, "missing-fragment", "bad-alphabet", "wrong-length"}
    for case in failures["links"]:
        assert outcome(spec_parse_link, case["text"]) == case["error"], case
        if case["error"] is None:
            secret = spec_parse_link(case["text"]).hex()
            assert secret == case["secret_hex"] == COMMITTED["secret_hex"]

    file_key, tid, rkey = keys_from_spec()
    size = 16384 - 48 + 1
    assert {e["error"] for e in failures["data_records"]} == {
        None, "malformed", "foreign", "misplaced", "tampered"}
    for case in failures["data_records"]:
        record = bytes.fromhex(case["record_hex"])
        args = (rkey, tid, 2, size, record, case["expected_index"])
        assert outcome(spec_open_data, *args) == case["error"], case["case"]
        if case["error"] is None:
            assert spec_open_data(*args).hex() == case["plaintext_hex"] == pattern(size)[-1:].hex()

    assert {e["error"] for e in failures["manifest_records"]} == {
        None, "malformed", "tampered", "wrong-key", "manifest"}
    for case in failures["manifest_records"]:
        record = bytes.fromhex(case["record_hex"])
        assert outcome(spec_open_manifest, file_key, record) == case["error"], case["case"]
        if case["error"] is None:
            assert case["manifest_json"] == failures["transfer"]["manifest_json"]

    assert {e["error"] for e in failures["manifests"]} == {None, "manifest"}
    for case in failures["manifests"]:
        assert outcome(spec_check_manifest, case["json"].encode()) == case["error"], case["case"]

    for case in failures["ranges"]:
        got = outcome(spec_decode_ranges, bytes.fromhex(case["hex"]))
        assert (got and "range") == case["error"], case["case"]
        if case["error"] is None:
            assert spec_decode_ranges(bytes.fromhex(case["hex"])) == (
                case["universe"], case["ranges"])


def test_transfer_failure_vectors_follow_from_the_spec():
    """§3: complete only when every index is held; then the whole file's SHA-256."""
    file_key = keys_from_spec()[0]
    errors = []
    for case in COMMITTED["failures"]["transfers"]:
        record = bytes.fromhex(case["manifest_record_hex"])
        doc = spec_open_manifest(file_key, record)
        tid = record[4:20]
        rkey = hkdf(file_key, tid, "sgraph-send/v1/record-key", 32)
        count = doc["chunk_count"]
        held: dict[int, bytes] = {}
        duplicates = 0
        for raw in case["records_hex"]:
            data = bytes.fromhex(raw)
            index = struct.unpack(">I", data[20:24])[0]
            plaintext = spec_open_data(rkey, tid, count, doc["size"], data, None)
            if index in held:
                duplicates += 1
            held[index] = plaintext
        assert duplicates == case["duplicates"]
        if len(held) < count:
            error = "truncated"
        elif hashlib.sha256(b"".join(held[i] for i in range(count))).hexdigest() != doc["sha256"]:
            error = "hash-mismatch"
        else:
            error = None
            assert case["sha256"] == doc["sha256"]
        assert error == case["error"], case["case"]
        errors.append(error)
    assert set(errors) == {None, "truncated", "hash-mismatch"}


def test_every_new_group_has_its_own_top_level_key():
    """New groups never change the original ones (other branches add theirs beside them)."""
    assert {"record_size_choice", "ranges", "progress", "record_size_64k", "empty_file",
            "stored_layout", "failures", "max_packet"} <= set(COMMITTED)


def test_write_docs_reproduces_the_committed_files(tmp_path):
    """`python -m transfer_core.protocol.vectors --docs docs` is how both files are regenerated."""
    for name in ("test-vectors.json", "protocol.md"):
        (tmp_path / name).write_text((DOCS / name).read_text())
    stale = (tmp_path / "protocol.md").read_text().replace('"secret_hex"', '"stale"', 1)
    (tmp_path / "protocol.md").write_text(stale)
    vectors.write_docs(tmp_path)
    for name in ("test-vectors.json", "protocol.md"):
        assert (tmp_path / name).read_text() == (DOCS / name).read_text()
