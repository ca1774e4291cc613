"""The protocol's test vectors, computed from fixed inputs (docs/test-vectors.json).

`python -m transfer_core.protocol.vectors --docs docs` regenerates docs/test-vectors.json and its
copy in docs/protocol.md §9 (without `--docs` it prints the JSON); the tests recompute every
value and compare it with the committed file and with docs/protocol.md.
"""

from __future__ import annotations

import hashlib
import json
import re
import sys
import tempfile
from pathlib import Path
from typing import Any

from ..errors import (
    DuplicateRecordError,
    HashMismatchError,
    LinkError,
    ManifestError,
    RecordError,
    TruncatedTransferError,
)
from ..signalling.envelope import SignedMessage
from ..sink import PartialFile
from ..source import FileSource
from ..storage.layout import PartPlan, manifest_key, records_key
from ..webrtc.channel import negotiated_max_message_size, record_size_for
from ..webrtc.sdp import MAX_PACKET_ATTRIBUTE, max_packet, with_max_packet
from .keys import derive_keys, key_check, record_key
from .layout import MAX_RECORD_SIZE, MIN_RECORD_SIZE, ChunkLayout
from .manifest import Manifest, open_manifest
from .progress import ProgressRecord, Via
from .ranges import RangeEncodingError, RangeSet
from .record import RecordCipher
from .room import offer
from .secret import TransferSecret
from .tree_vectors import tree_group

SECRET = bytes(range(32))
TRANSFER_ID = bytes(range(0xA0, 0xB0))
CREATED = "2026-01-01T00:00:00Z"
SMALL_NAME = "vector.txt"
SMALL_FILE = b"SGraph Send test vector: hello, receiver.\n"
LARGE_NAME = "pattern.bin"
LARGE_SIZE = 40_000  # three records at the 16 KiB record size
SIZE_64K = 70_000  # two records at 64 KiB
TWO_RECORDS = MIN_RECORD_SIZE - 48 + 1  # the failures' transfer: one full record, then 1 byte
OTHER_TRANSFER_ID = bytes(range(0xC0, 0xD0))
OTHER_SECRET = bytes(range(0x20, 0x40))
MISMATCH_TRANSFER_ID = bytes(range(0xD0, 0xE0))


def large_file() -> bytes:
    return bytes(i % 251 for i in range(LARGE_SIZE))


def pattern(size: int) -> bytes:
    """Byte i is i mod 251 (the large, 64 KiB and failures files)."""
    return bytes(i % 251 for i in range(size))


def _source(directory: Path, name: str, data: bytes, file_key: bytes,
            record_size: int = MIN_RECORD_SIZE) -> FileSource:
    path = directory / name
    path.write_bytes(data)
    return FileSource.create(
        path, file_key, record_size, randbytes=lambda n: TRANSFER_ID[:n],
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
        doc: dict[str, Any] = {
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
        doc["record_size_choice"] = _record_size_choice()
        doc["max_packet"] = _max_packet()
        doc["ranges"] = _ranges()
        doc["progress"] = _progress()
        doc["record_size_64k"] = _file_group(
            _source(Path(tmp), "pattern64.bin", pattern(SIZE_64K), keys.file_key, 65536),
            f"byte i is i mod 251, for i in 0..{SIZE_64K - 1}", hex_records=False,
        )
        doc["empty_file"] = _file_group(
            _source(Path(tmp), "empty.bin", b"", keys.file_key, 65536),  # fixed, not the default
            "no bytes", hex_records=True,
        )
        doc["stored_layout"] = _stored_layout(keys.room_id, large)
        doc["failures"] = _failures(Path(tmp), keys.file_key)
        doc["tree"] = tree_group(Path(tmp), keys.file_key, TRANSFER_ID, CREATED, SMALL_FILE,
                                 large_file())
        small.close()
        large.close()
    return doc


# --- the groups issue #10 §5 asked for (each a top-level key of its own) ------------------


def _record_size_choice() -> list[dict[str, Any]]:
    """R = max(16 KiB, min(P, M, 256 KiB)) (§8); M = None: no a=max-message-size line."""
    cases = [(65536, None), (65536, 262144), (262144, 262144), (262144, 0), (262144, None),
             (16384, 262144), (65536, 16384), (65536, 1200), (131072, 100000)]
    out: list[dict[str, Any]] = []
    for preferred, advertised in cases:
        line = "" if advertised is None else f"a=max-message-size:{advertised}\r\n"
        sdp = f"v=0\r\nm=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\n{line}"
        out.append({"preferred": preferred, "max_message_size": advertised,
                    "record_size": record_size_for(negotiated_max_message_size(sdp), preferred)})
    # no peer at all (stored straight to S3): the preferred size, within the bounds
    out.append({"preferred": 65536, "max_message_size": "no peer",
                "record_size": record_size_for(MAX_RECORD_SIZE, 65536)})
    return out


def _max_packet() -> dict[str, Any]:
    """`a=sgraph-max-packet` (Revision 2.4, the page's from 2.5): what an SDP says, and
    an SDP once a peer adds the line (the page says 2,048, the CLI 16,384)."""
    head = "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n"
    media = "m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\nc=IN IP4 0.0.0.0\r\n"
    tail = "a=mid:0\r\na=sctp-port:5000\r\n"
    size_line = "a=max-message-size:262144\r\n"

    def saying(value: str) -> str:
        return head + media + size_line + f"a={MAX_PACKET_ATTRIBUTE}:{value}\r\n" + tail

    reading = [("no line", head + media + tail)] + [
        (f"says {value!r}", saying(value))
        for value in ("2048", "16384", " 1400 ", "abc", "1234567", "", "-5", "12.5")]
    writing = [("after max-message-size", head + media + size_line + tail, 2048),
               ("after m=application", head + media + tail, 2048),
               ("the CLI's size", head + media + size_line + tail, 16384),
               ("no data channel section: unchanged", head, 2048),
               ("said already: unchanged", saying("16384"), 2048),
               ("LF line ends", (head + media + size_line + tail).replace("\r\n", "\n"), 2048)]
    return {
        "reading": [{"case": case, "sdp": sdp, "said": max_packet(sdp)} for case, sdp in reading],
        "writing": [{"case": case, "sdp": sdp, "size": size, "written": with_max_packet(sdp, size)}
                    for case, sdp, size in writing],
    }


def _ranges() -> list[dict[str, Any]]:
    """Both encodings of several sets, and the one an encoder sends (the shorter)."""
    cases: list[tuple[int, list[tuple[int, int]]]] = [
        (0, []), (8, []), (8, [(0, 8)]), (10, [(0, 10)]), (1000, [(0, 1000)]),
        (1000, [(0, 500), (502, 600)]), (16, [(3, 4), (8, 16)]),
        (40, [(2 * i, 2 * i + 1) for i in range(20)]),
        (100, [(0, 90), (95, 100)]),
    ]
    out: list[dict[str, Any]] = []
    for universe, ranges in cases:
        rs = RangeSet(universe, ranges)
        out.append({"universe": universe, "ranges": [list(r) for r in ranges],
                    "ranges_hex": rs.encode_ranges().hex(), "bitmap_hex": rs.encode_bitmap().hex(),
                    "encoded_hex": rs.encode().hex()})
    return out


def _progress() -> dict[str, Any]:
    """A receiver's progress.json: chunks 0-4 came peer to peer, chunk 7 from storage."""
    record = ProgressRecord(TRANSFER_ID, 10)
    for i in range(5):
        record.mark(i, Via.P2P)
    record.mark(7, Via.S3)
    return {"transfer_id_hex": TRANSFER_ID.hex(), "count": 10,
            "p2p": [[0, 5]], "s3": [[7, 8]], "missing": [[5, 7], [8, 10]],
            "json": record.to_json().decode()}


def _file_group(source: FileSource, content: str, hex_records: bool) -> dict[str, Any]:
    with source:
        records = [source.record(i) for i in range(source.layout.count)]
        group: dict[str, Any] = {
            "name": source.manifest.name, "content": content,
            "manifest_json": source.manifest.to_json().decode(),
        }
        if hex_records:
            group["manifest_record_hex"] = source.manifest_record.hex()
            group["records_hex"] = [r.hex() for r in records]
        else:
            group["manifest_record_sha256"] = hashlib.sha256(source.manifest_record).hexdigest()
            group["record_sha256"] = [hashlib.sha256(r).hexdigest() for r in records]
    return group


def _plan(size: int, record_size: int, first: int) -> dict[str, Any]:
    layout = ChunkLayout(size, record_size)
    plan = PartPlan(record_size, layout.record_length(layout.count - 1), layout.count, first)
    shown = sorted({1, min(2, plan.parts), plan.parts})
    return {
        "size": size, "record_size": record_size, "first": first, "count": layout.count,
        "last_record_bytes": plan.last_record_bytes, "object_bytes": plan.object_bytes,
        "records_per_part": plan.records_per_part, "parts": plan.parts,
        "part_records": [[p, plan.part_records(p).start, plan.part_records(p).stop]
                         for p in shown],
    }


def _stored_layout(room_id: str, large: FileSource) -> dict[str, Any]:
    """Object keys and sizes for the large file, and part plans (§10)."""
    layout = large.layout
    objects = []
    for first in (0, 2):
        records = b"".join(large.record(i) for i in range(first, layout.count))
        objects.append({
            "key": records_key(room_id, first), "first": first, "size": len(records),
            "records": [{"index": i, "offset": layout.record_offset(i - first),
                         "length": layout.record_length(i)} for i in range(first, layout.count)],
            "sha256": hashlib.sha256(records).hexdigest(),
        })
    return {
        "file": "the large file (pattern.bin, 16 KiB records)",
        "manifest_key": manifest_key(room_id),
        "manifest_size": len(large.manifest_record),
        "objects": objects,
        "part_plans": [
            _plan(LARGE_SIZE, 16384, 0), _plan(LARGE_SIZE, 16384, 2),
            _plan(100 * 2**20, 65536, 0), _plan(100 * 2**20, 65536, 1000),
            _plan(200 * 10**9, 16384, 0), _plan(2**40, 262144, 7),
        ],
    }


# --- failures: each check of §1, §3, §4 and §5 with the error it must give -------------------


def _error(exc: Exception) -> str:
    """The error names of docs/protocol.md, as the page's error codes spell them."""
    name = type(exc).__name__
    return {
        "MissingFragmentError": "missing-fragment", "SecretAlphabetError": "bad-alphabet",
        "SecretLengthError": "wrong-length", "MalformedRecordError": "malformed",
        "ForeignRecordError": "foreign", "MisplacedRecordError": "misplaced",
        "TamperedRecordError": "tampered", "WrongKeyError": "wrong-key",
        "ManifestError": "manifest", "RangeEncodingError": "range",
        "TruncatedTransferError": "truncated", "HashMismatchError": "hash-mismatch",
    }[name]


def _link_failures() -> list[dict[str, Any]]:
    code = TransferSecret(SECRET).code
    link = f"https://send.sgraph.ai/#{code}"
    texts = [
        f" \t{link}\r\n", f"#{code}", f"{code}\n", f"https://send.sgraph.ai/?x=1#{code}",
        "https://send.sgraph.ai/", "https://send.sgraph.ai/receive?room=1", "/receive", "?code=1",
        "send.sgraph.ai/receive", "https://send.sgraph.ai/#", "", " \t\n", code[:42], code + "A",
        code[:41] + "!", code[:42] + "B", code[:42] + "=", "\u00a0" + code, "\ufeff" + code,
        f"x#{code}#", f"{link} x", code[:20] + " " + code[20:],
    ]
    out: list[dict[str, Any]] = []
    for text in texts:
        try:
            secret = TransferSecret.parse(text)
        except LinkError as exc:
            out.append({"text": text, "error": _error(exc)})
        else:
            out.append({"text": text, "error": None, "secret_hex": secret.raw.hex()})
    return out


def _with(record: bytes, at: int, value: int) -> bytes:
    out = bytearray(record)
    out[at] = value
    return bytes(out)


def _u32(record: bytes, at: int, value: int) -> bytes:
    return record[:at] + value.to_bytes(4, "big") + record[at + 4:]


def _failures(directory: Path, file_key: bytes) -> dict[str, Any]:
    """Records, manifests and range encodings a receiver must refuse, and with what."""
    data = pattern(TWO_RECORDS)
    source = _source(directory, "two.bin", data, file_key)
    with source:
        manifest_rec, rec1, rec0 = source.manifest_record, source.record(1), source.record(0)
        layout = source.layout
        cipher = RecordCipher(file_key, TRANSFER_ID, layout)
        other = RecordCipher(file_key, OTHER_TRANSFER_ID, layout)
        other_link = derive_keys(TransferSecret(OTHER_SECRET)).file_key
        foreign = other.seal(1, data[layout.offset(1):])
        flipped_tag = _with(rec1, len(rec1) - 1, rec1[-1] ^ 0x01)
        data_cases: list[tuple[str, bytes, int | None]] = [
            ("record 1 at its place", rec1, 1),
            ("record 1, place unknown", rec1, None),
            ("47 bytes", rec1[:47], None),
            ("version 2", _with(rec1, 0, 2), None),
            ("reserved bits set", _with(rec1, 2, 0x01), None),
            ("unknown flag bit 2", _with(rec1, 1, rec1[1] | 0x04), None),
            ("the manifest record where a data record belongs", manifest_rec, None),
            ("version 2 and from another transfer", _with(foreign, 0, 2), None),
            ("from another transfer", foreign, None),
            ("transfer id altered", _with(rec1, 4, rec1[4] ^ 0x01), None),
            ("from another transfer, at another's place", foreign, 0),
            ("record 1 where record 0 belongs", rec1, 0),
            ("index altered to 0 (payload length then wrong)", _u32(rec1, 20, 0), None),
            ("index altered to 2 (past the count)", _u32(rec1, 20, 2), None),
            ("count altered to 3", _u32(rec1, 24, 3), None),
            ("last flag cleared", _with(rec1, 1, 0), None),
            ("last flag set on record 0", _with(rec0, 1, 1)[:48], None),
            ("payload length altered to 2", _u32(rec1, 28, 2), None),
            ("one byte appended", rec1 + b"\x00", None),
            ("last byte cut", rec1[:-1], None),
            ("ciphertext bit flipped", _with(rec1, 32, rec1[32] ^ 0x80), None),
            ("tag bit flipped", flipped_tag, 1),
        ]
        records = []
        for case, record, expected in data_cases:
            entry: dict[str, Any] = {"case": case, "record_hex": record.hex(),
                                     "expected_index": expected}
            try:
                index, plaintext = cipher.open(record, expected)
            except RecordError as exc:
                entry["error"] = _error(exc)
            else:
                entry.update(error=None, index=index, plaintext_hex=plaintext.hex())
            records.append(entry)
        bad_json = Manifest.from_json(source.manifest.to_json())
        doc = json.loads(bad_json.to_json())
        manifest_cases: list[tuple[str, bytes]] = [
            ("the manifest", manifest_rec),
            ("47 bytes", manifest_rec[:47]),
            ("version 2", _with(manifest_rec, 0, 2)),
            ("a data record first", rec1),
            ("last flag cleared", _with(manifest_rec, 1, 0x02)),
            ("index altered to 1", _u32(manifest_rec, 20, 1)),
            ("count altered to 2", _u32(manifest_rec, 24, 2)),
            ("payload length altered", _u32(manifest_rec, 28, len(manifest_rec) - 63)),
            ("one byte appended", manifest_rec + b"\x00"),
            ("key check altered", _with(manifest_rec, 32, manifest_rec[32] ^ 0x01)),
            ("sealed under another link", RecordCipher(other_link, TRANSFER_ID, layout)
             .seal_manifest(source.manifest.to_json())),
            ("ciphertext bit flipped", _with(manifest_rec, 64, manifest_rec[64] ^ 0x01)),
            ("authentic, JSON not canonical (spaces)",
             cipher.seal_manifest(json.dumps(doc, sort_keys=True).encode())),
            ("authentic, name with a path", cipher.seal_manifest(
                json.dumps({**doc, "name": "../two.bin"}, sort_keys=True,
                           separators=(",", ":")).encode())),
        ]
        manifests = []
        for case, record in manifest_cases:
            entry = {"case": case, "record_hex": record.hex()}
            try:
                opened, _ = open_manifest(file_key, record)
            except (RecordError, ManifestError) as exc:
                entry["error"] = _error(exc)
            else:
                entry.update(error=None, manifest_json=opened.to_json().decode())
            manifests.append(entry)
    return {
        "transfer": {
            "note": "pattern bytes 0..16336 (byte i is i mod 251) named two.bin, 16 KiB"
                    " records: record 0 is full, record 1 holds one byte; the vectors' keys"
                    " and transfer id (record 0 is the first 16336 bytes, sealed as §3 says)",
            "manifest_json": source.manifest.to_json().decode(),
            "record_1_hex": rec1.hex(),
            "other_transfer_id_hex": OTHER_TRANSFER_ID.hex(),
            "other_secret_hex": OTHER_SECRET.hex(),
        },
        "links": _link_failures(),
        "data_records": records,
        "manifest_records": manifests,
        "manifests": _manifest_failures(doc),
        "ranges": _range_failures(),
        "transfers": _transfer_failures(directory, file_key, manifest_rec, rec1),
    }


def _transfer_failures(directory: Path, file_key: bytes, two_manifest: bytes,
                       two_record_1: bytes) -> list[dict[str, Any]]:
    """Whole transfers: every record verifies, yet the file is incomplete or not the one named.

    The receiver's own code (`PartialFile`) decides each case."""
    small = _source(directory, SMALL_NAME, SMALL_FILE, file_key)
    with small:
        good_manifest, good_record = small.manifest_record, small.record(0)
        wrong = Manifest(SMALL_NAME, len(SMALL_FILE), "text/plain", MIN_RECORD_SIZE,
                         hashlib.sha256(b"another file").hexdigest(), CREATED)
        cipher = RecordCipher(file_key, MISMATCH_TRANSFER_ID, wrong.layout)
        cases = [
            ("complete", good_manifest, [good_record]),
            ("a record received twice", good_manifest, [good_record, good_record]),
            ("record 0 of two never came", two_manifest, [two_record_1]),
            ("the records are not the file the manifest names",
             cipher.seal_manifest(wrong.to_json()), [cipher.seal(0, SMALL_FILE)]),
        ]
    out: list[dict[str, Any]] = []
    for n, (case, manifest_record, records) in enumerate(cases):
        work, dest = directory / f"work-{n}", directory / f"out-{n}"
        dest.mkdir()
        entry: dict[str, Any] = {"case": case, "manifest_record_hex": manifest_record.hex(),
                                 "records_hex": [r.hex() for r in records], "duplicates": 0}
        with PartialFile.open(work, file_key, manifest_record) as partial:
            for record in records:
                try:
                    partial.accept(record, Via.P2P)
                except DuplicateRecordError:
                    entry["duplicates"] += 1
            try:
                final = partial.finalize(dest)
            except (TruncatedTransferError, HashMismatchError) as exc:
                entry["error"] = _error(exc)
            else:
                entry.update(error=None, sha256=hashlib.sha256(final.read_bytes()).hexdigest())
        out.append(entry)
    return out


def _manifest_failures(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """Manifest JSON texts (already decrypted) a receiver must refuse."""

    def canon(**changes: Any) -> str:
        return json.dumps({**doc, **changes}, sort_keys=True, separators=(",", ":"),
                          ensure_ascii=False)

    good = canon()
    texts = [
        ("valid", good),
        ("spaces", json.dumps(doc, sort_keys=True)),
        ("keys not sorted", json.dumps(dict(reversed(doc.items())), separators=(",", ":"))),
        ("duplicate key", good.replace('"v":1', '"v":1,"v":1')),
        ("needless escape", good.replace('"two.bin"', '"\\u0074wo.bin"')),
        ("trailing newline", good + "\n"),
        ("unknown key", canon(extra=1)),
        ("missing key", json.dumps({k: v for k, v in doc.items() if k != "created"},
                                   sort_keys=True, separators=(",", ":"))),
        ("version 2", canon(v=2)),
        ("size as a string", canon(size="16337")),
        ("size true", canon(size=True)),
        ("size negative", canon(size=-1)),
        ("record size too small", canon(record_size=16383, chunk_count=2)),
        ("record size too large", canon(record_size=262145)),
        ("chunk count wrong", canon(chunk_count=3)),
        ("sha256 upper case", canon(sha256=doc["sha256"].upper())),
        ("created with fraction", canon(created="2026-01-01T00:00:00.000Z")),
        ("created with offset", canon(created="2026-01-01T00:00:00+00:00")),
        ("name empty", canon(name="")),
        ("name 256 bytes", canon(name="x" * 256)),
        ("name 255 bytes", canon(name="x" * 255)),
        ("name dot", canon(name=".")),
        ("name dot dot", canon(name="..")),
        ("name with slash", canon(name="a/b")),
        ("name with backslash", canon(name="a\\b")),
        ("name with newline", canon(name="a\nb")),
        ("name with DEL", canon(name="a\x7fb")),
        ("name with C1 control", canon(name="a\x85b")),
        ("name with lone surrogate", good.replace('"two.bin"', '"two\\ud800.bin"')),
        ("name non-ASCII", canon(name="résumé ✓ 😀.txt")),
        ("name with leading dot", canon(name=".hidden")),
    ]
    out: list[dict[str, Any]] = []
    for case, text in texts:
        entry: dict[str, Any] = {"case": case, "json": text}
        try:
            Manifest.from_json(text.encode())
        except ManifestError as exc:
            entry["error"] = _error(exc)
        else:
            entry["error"] = None
        out.append(entry)
    return out


def _range_failures() -> list[dict[str, Any]]:
    cases = [
        ("empty", ""), ("unknown format", "030a"), ("truncated varint", "0180"),
        ("varint too long", "01" + "80" * 10 + "00"), ("range count missing", "010a"),
        ("empty range", "010a010000"), ("touching ranges", "010a0200020002"),
        ("past the universe", "010a010506"), ("trailing byte", "010a01000a00"),
        ("bitmap too short", "0210ff"), ("bitmap too long", "0208ff00"),
        ("bitmap bit past the universe", "020aff07"), ("valid ranges", "010a0200020202"),
        ("valid bitmap", "020aff03"),
    ]
    out: list[dict[str, Any]] = []
    for case, text in cases:
        entry: dict[str, Any] = {"case": case, "hex": text}
        try:
            decoded = RangeSet.decode(bytes.fromhex(text))
        except RangeEncodingError as exc:
            entry["error"] = _error(exc)
        else:
            entry.update(error=None, universe=decoded.universe,
                         ranges=[list(r) for r in decoded.ranges()])
        out.append(entry)
    return out


_DOC_BLOCK = re.compile(r"(<!-- vectors -->\n```json\n).*?(\n```\n<!-- /vectors -->)", re.S)


def write_docs(docs: Path) -> None:
    """Regenerate `docs/test-vectors.json` and the copy in `docs/protocol.md` §9 together
    (after a merge of two branches that both changed the vectors, run this once)."""
    text = json.dumps(compute(), indent=2)
    (docs / "test-vectors.json").write_text(text + "\n")
    protocol = docs / "protocol.md"
    old = protocol.read_text()
    new, found = _DOC_BLOCK.subn(lambda m: m.group(1) + text + m.group(2), old)
    if found != 1:
        raise SystemExit(f"{protocol} has no single <!-- vectors --> block")
    protocol.write_text(new)


def main(argv: list[str] | None = None) -> None:
    """Print the vectors; `--docs DIR` rewrites DIR/test-vectors.json and DIR/protocol.md."""
    args = sys.argv[1:] if argv is None else argv
    if args[:1] == ["--docs"] and len(args) == 2:
        write_docs(Path(args[1]))
    elif args:
        raise SystemExit("usage: python -m transfer_core.protocol.vectors [--docs DIR]")
    else:
        print(json.dumps(compute(), indent=2))


if __name__ == "__main__":
    main()
