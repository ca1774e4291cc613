"""The transport interface: both adapters satisfy it; storage round-trips records intact."""

from __future__ import annotations

import asyncio
from pathlib import Path

from transfer_core.protocol.keys import derive_keys
from transfer_core.protocol.progress import Via
from transfer_core.protocol.ranges import RangeSet
from transfer_core.protocol.secret import TransferSecret
from transfer_core.s3.issuer import StoredRecords, StoredTransfer, UploadStart
from transfer_core.sink import PartialFile
from transfer_core.source import FileSource
from transfer_core.transport.base import ReceiveTransport, SendTransport
from transfer_core.transport.s3 import S3ReceiveTransport, S3SendTransport
from transfer_core.transport.webrtc import WebRtcReceiveTransport, WebRtcSendTransport

RECORD = 16 * 1024


class MemoryHttp:
    """PUT and ranged GET on a dict: the HTTP side of storage, in memory."""

    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}

    def put(self, url: str, body: object, length: int | None = None) -> str:
        self.objects[url] = body if isinstance(body, bytes) else b"".join(body)  # type: ignore[arg-type]
        return "etag"

    def get(self, url: str, start: int | None = None, end: int | None = None) -> bytes:
        data = self.objects[url]
        return data if start is None else data[start:end]


class MemoryIssuer:
    """Single-PUT URLs only (the files here are below one part)."""

    def __init__(self, http: MemoryHttp) -> None:
        self.http = http
        self.first = 0

    async def upload_start(self, obj: str, first: int | None = None,
                           parts: int | None = None, *, size: int,
                           part_size: int | None = None) -> UploadStart:
        if obj == "records":
            self.first = first or 0
        return UploadStart(f"mem://{obj}", None, frozenset(), 99)

    async def part_urls(self, first: int, upload_id: str, parts: list[int]) -> dict[int, str]:
        raise AssertionError("not multipart")

    async def upload_complete(self, first: int, upload_id: str, parts: int) -> int:
        raise AssertionError("not multipart")

    async def download(self) -> StoredTransfer:
        records = self.http.objects["mem://records"]
        return StoredTransfer("mem://manifest", len(self.http.objects["mem://manifest"]),
                              (StoredRecords(self.first, len(records), "mem://records"),), 99)


def test_adapters_implement_the_interface():
    pipe = type("Pipe", (), {"max_message_size": 65536})()
    assert isinstance(WebRtcSendTransport(pipe), SendTransport)
    assert WebRtcSendTransport(pipe).max_record_size == 65536
    assert isinstance(WebRtcReceiveTransport(pipe), ReceiveTransport)
    http = MemoryHttp()
    assert isinstance(S3SendTransport(MemoryIssuer(http), http, RangeSet(0)),  # type: ignore[arg-type]
                      SendTransport)
    stored = StoredTransfer("m", 0, (), 0)
    assert isinstance(S3ReceiveTransport(stored, http), ReceiveTransport)  # type: ignore[arg-type]
    assert WebRtcSendTransport.via is WebRtcReceiveTransport.via is Via.P2P
    assert S3SendTransport.via is S3ReceiveTransport.via is Via.S3


def test_storage_stores_the_suffix_from_the_first_missing_record(tmp_path: Path):
    keys = derive_keys(TransferSecret.generate())
    data = bytes(range(256)) * 600  # 153,600 bytes: 10 records of 16 KiB
    (tmp_path / "f.bin").write_bytes(data)
    http = MemoryHttp()
    issuer = MemoryIssuer(http)
    seen: list[tuple[int, int]] = []

    async def run() -> None:
        with FileSource.create(tmp_path / "f.bin", keys.file_key, RECORD) as source:
            count = source.layout.count
            held = RangeSet(count, [(0, 3), (5, 6)])  # what the receiver said it had
            send = S3SendTransport(issuer, http, held)  # type: ignore[arg-type]
            assert await send.begin(source) == held
            assert await send.send(source, held, lambda d, t: seen.append((d, t)))
            assert send.stored is not None and send.stored.first == 3
            assert send.stored.records == count - 3
            # the stored records are the very records the source seals (byte-identical)
            sealed = b"".join(source.record(i) for i in range(3, count))
            assert len(http.objects["mem://records"]) == len(sealed)
            receive = S3ReceiveTransport(await issuer.download(), http)  # type: ignore[arg-type]
            with PartialFile.open(tmp_path / "work", keys.file_key,
                                  await receive.manifest()) as partial:
                for i in range(3):
                    partial.accept(source.record(i), Via.P2P)
                await receive.announce(partial.progress.held)
                await receive.receive(partial, lambda d, t: None)
                assert partial.complete
                assert partial.progress.counts() == {"p2p": 3, "s3": count - 3}
                out = partial.finalize(tmp_path / "out")
        assert out.read_bytes() == data

    (tmp_path / "out").mkdir()
    asyncio.run(run())
    assert seen[-1][0] == seen[-1][1]
