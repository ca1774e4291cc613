"""Store and fetch sealed records through presigned URLs on a real (moto) HTTP server."""

from __future__ import annotations

import os
import re

import pytest

from transfer_core.errors import (
    MisplacedRecordError,
    TamperedRecordError,
    TruncatedTransferError,
)
from transfer_core.protocol.progress import Via
from transfer_core.s3.download import download_records, fetch_manifest
from transfer_core.s3.errors import StorageError, TransferExpiredError
from transfer_core.s3.http import HttpClient
from transfer_core.s3.upload import plan_for, upload_manifest, upload_records
from transfer_core.sink import PartialFile, work_dir_for

from .conftest import BUCKET, Room, make_source

MIB = 1 << 20


async def store(room: Room, tmp_path, data: bytes, first: int = 0, http=None):
    source = make_source(tmp_path / "secret-name.bin", data, room.keys)
    http = http or HttpClient()
    issuer = room.issuer("S")
    await upload_manifest(source, issuer, http)
    summary = await upload_records(source, issuer, http, first)
    return source, summary


async def fetch(room: Room, tmp_path, http=None, connection: str = "R") -> PartialFile:
    http = http or HttpClient()
    stored = await room.issuer(connection).download()
    partial = PartialFile.open(work_dir_for(tmp_path / "out", room.keys.room_id),
                               room.keys.file_key, await fetch_manifest(stored, http))
    try:
        await download_records(partial, stored, http)
    except BaseException:
        partial.close()
        raise
    return partial


async def test_multipart_round_trip_is_byte_identical(room, tmp_path):
    data = os.urandom(20 * MIB + 12345)
    source, summary = await store(room, tmp_path, data)
    assert summary.parts == 3 == plan_for(source, 0).parts  # 8 MiB parts of whole records
    partial = await fetch(room, tmp_path)
    assert partial.progress.counts() == {"p2p": 0, "s3": source.layout.count}
    dest = partial.finalize(tmp_path / "out")
    assert dest.read_bytes() == data


async def test_only_the_remainder_is_stored_and_fetched(room, tmp_path):
    data = os.urandom(3 * MIB)
    source = make_source(tmp_path / "f.bin", data, room.keys)
    out = work_dir_for(tmp_path / "out", room.keys.room_id)
    partial = PartialFile.open(out, room.keys.file_key, source.manifest_record)
    half = source.layout.count // 2
    for i in range(half):  # as if delivered peer to peer
        partial.accept(source.record(i), Via.P2P)
    partial.close()
    http = HttpClient()
    await upload_manifest(source, room.issuer("S"), http)
    summary = await upload_records(source, room.issuer("S"), http, first=half)
    assert summary.records == source.layout.count - half
    (key,) = [k for k in room.objects() if "/records/" in k]
    assert key.endswith(f"/records/{half:010d}")
    done = await fetch(room, tmp_path)
    assert done.progress.counts() == {"p2p": half, "s3": source.layout.count - half}
    assert done.finalize(tmp_path / "out").read_bytes() == data


async def test_every_object_is_ciphertext_and_no_key_names_the_file(room, tmp_path):
    # low-entropy plaintext: any stored plaintext window would be found
    data = b"".join(f"line {i:08d} of a secret-name file\n".encode() for i in range(60000))
    await store(room, tmp_path, data)
    objects = room.objects()
    assert len(objects) == 2
    for key, body in objects.items():
        assert re.fullmatch(rf"transfers/{room.keys.room_id}/(manifest|records/\d{{10}})", key)
        assert b"secret-name" not in body
        windows = {body[i:i + 32] for i in range(len(body) - 31)}
        assert not any(data[i:i + 32] in windows for i in range(0, len(data) - 31, 7))


async def test_an_interrupted_upload_resumes_with_the_missing_parts_only(room, tmp_path):
    data = os.urandom(26 * MIB)

    class DiesAfterTwoParts(HttpClient):  # fault injected: the process "dies" mid-upload
        puts = 0

        def put(self, url, body, length=None):
            type(self).puts += 1
            if type(self).puts == 4:
                raise StorageError("injected: connection lost for good")
            return super().put(url, body, length)

    source = make_source(tmp_path / "f.bin", data, room.keys)
    http = DiesAfterTwoParts()
    await upload_manifest(source, room.issuer("S"), http)
    with pytest.raises(StorageError):
        await upload_records(source, room.issuer("S"), http, concurrency=1)
    summary = await upload_records(source, room.issuer("S"), HttpClient())
    # the manifest and parts 1 and 2 made it; only parts 3 and 4 are sent again
    assert summary.parts == 4 and summary.uploaded_bytes == source.layout.sealed_size - 16 * MIB
    partial = await fetch(room, tmp_path)
    assert partial.finalize(tmp_path / "out").read_bytes() == data


async def test_an_interrupted_download_resumes_from_the_progress_record(room, tmp_path):
    data = os.urandom(20 * MIB)
    await store(room, tmp_path, data)

    class DiesAfterOneRange(HttpClient):  # fault injected
        gets = 0

        def get(self, url, start=None, end=None):
            type(self).gets += 1
            if type(self).gets == 3:  # the manifest, one range, then the link drops
                raise StorageError("injected: connection lost for good")
            return super().get(url, start, end)

    with pytest.raises(StorageError):
        await fetch(room, tmp_path, DiesAfterOneRange())
    partial = await fetch(room, tmp_path)
    counts = partial.progress.counts()
    assert counts["s3"] == partial.progress.count
    assert partial.finalize(tmp_path / "out").read_bytes() == data


def _replace_records(room: Room, bodies: list[bytes]) -> None:
    """Re-store the records object as the given parts (a hostile or broken store)."""
    key = next(k for k in room.objects() if "/records/" in k)
    upload = room.s3.create_multipart_upload(Bucket=BUCKET, Key=key,
                                             ContentType="application/octet-stream")
    parts = []
    for n, body in enumerate(bodies, 1):
        etag = room.s3.upload_part(Bucket=BUCKET, Key=key, UploadId=upload["UploadId"],
                                   PartNumber=n, Body=body)["ETag"]
        parts.append({"PartNumber": n, "ETag": etag})
    room.s3.complete_multipart_upload(Bucket=BUCKET, Key=key, UploadId=upload["UploadId"],
                                      MultipartUpload={"Parts": parts})


async def _refused(room: Room, tmp_path, error: type[Exception]) -> None:
    with pytest.raises(error):
        await fetch(room, tmp_path)
    assert not (tmp_path / "out" / "secret-name.bin").exists()
    work = work_dir_for(tmp_path / "out", room.keys.room_id)
    partial = PartialFile.resume(work, room.keys.file_key)
    assert partial is not None and not partial.complete, "nothing presented as complete"
    with pytest.raises(TruncatedTransferError):
        partial.finalize(tmp_path / "out")
    partial.close()


async def test_a_flipped_byte_in_storage_is_tampering(room, tmp_path):
    source, _ = await store(room, tmp_path, os.urandom(20 * MIB))
    key = next(k for k in room.objects() if "/records/" in k)
    body = bytearray(room.objects()[key])
    body[9 * MIB + 100] ^= 0x01
    room.s3.put_object(Bucket=BUCKET, Key=key, Body=bytes(body),
                       ContentType="application/octet-stream")
    await _refused(room, tmp_path, TamperedRecordError)


async def test_swapped_parts_are_misplaced(room, tmp_path):
    await store(room, tmp_path, os.urandom(24 * MIB))
    body = next(v for k, v in room.objects().items() if "/records/" in k)
    p1, p2, p3 = body[:8 * MIB], body[8 * MIB:16 * MIB], body[16 * MIB:]
    _replace_records(room, [p2, p1, p3])
    await _refused(room, tmp_path, MisplacedRecordError)


async def test_a_missing_part_is_truncation(room, tmp_path):
    await store(room, tmp_path, os.urandom(24 * MIB))
    body = next(v for k, v in room.objects().items() if "/records/" in k)
    _replace_records(room, [body[:8 * MIB], body[16 * MIB:]])
    with pytest.raises(TruncatedTransferError, match="part is missing"):
        await fetch(room, tmp_path)
    assert not (tmp_path / "out" / "secret-name.bin").exists()


async def test_nothing_stored_is_expired(room, tmp_path):
    with pytest.raises(TransferExpiredError, match="expired"):
        await room.issuer("R").download()


async def test_a_receiver_cannot_upload(room, tmp_path):
    source = make_source(tmp_path / "f.bin", b"x" * 100, room.keys)
    with pytest.raises(StorageError, match="forbidden"):
        await upload_manifest(source, room.issuer("R"), HttpClient())
    assert room.objects() == {}


def test_5xx_and_resets_are_retried_with_backoff():
    """Fault injected (moto never answers 5xx): a server that fails twice, then serves."""
    import http.server
    import threading

    seen: list[str] = []

    class Flaky(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_PUT(self):
            seen.append(self.headers.get("Content-Type", ""))
            self.rfile.read(int(self.headers["Content-Length"]))
            if len(seen) == 1:
                self.close_connection = True
                self.connection.close()  # a reset mid-request
                return
            status = 503 if len(seen) == 2 else 200
            self.send_response(status)
            self.send_header("ETag", '"abc"')
            self.send_header("Content-Length", "0")
            self.end_headers()

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Flaky)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        client = HttpClient(attempts=4, backoff=0.01)
        etag = client.put(f"http://127.0.0.1:{server.server_port}/x", b"sealed")
        assert etag == '"abc"' and len(seen) == 3
        assert client.retried_bytes == 2 * len(b"sealed")  # sent three times: twice again
        assert set(seen) == {"application/octet-stream"}
        client.close()
    finally:
        server.shutdown()


async def test_progress_is_reported_one_call_at_a_time(room, tmp_path):
    """Records are fetched by several threads at once; the progress callback (the CLI's
    bar and its JSON lines) must still be called by one at a time, or two JSON lines
    interleave on stdout (seen: two `progress` events on one line)."""
    import threading
    import time

    data = os.urandom(6 * MIB)
    source, _ = await store(room, tmp_path, data)
    http = HttpClient()
    stored = await room.issuer("R").download()
    partial = PartialFile.open(work_dir_for(tmp_path / "out", room.keys.room_id),
                               room.keys.file_key, await fetch_manifest(stored, http))
    inside, overlapped, reported = threading.Lock(), [], []

    def progress(length: int) -> None:
        if not inside.acquire(blocking=False):
            overlapped.append(length)
            return
        try:
            time.sleep(0.02)  # widen the window another thread would enter in
            reported.append(length)
        finally:
            inside.release()

    try:
        await download_records(partial, stored, http, concurrency=4,
                               target_bytes=256 * 1024, progress=progress)
    finally:
        partial.close()
    assert overlapped == []
    assert len(reported) > 8
