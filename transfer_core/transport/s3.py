"""The S3 adapter: the `SendTransport` / `ReceiveTransport` of storage, over presigned URLs.

Thin on purpose: the work is in `transfer_core.s3` (`upload_records`: parts of whole
records sealed in worker threads, bounded parallelism, retries, ListParts resume;
`download_records`: ranged GETs, each record opened at its expected index).
"""

from __future__ import annotations

from typing import Any

from ..protocol.progress import Via
from ..protocol.ranges import RangeSet
from ..s3.download import DEFAULT_CONCURRENCY as DOWNLOAD_CONCURRENCY
from ..s3.download import download_records, fetch_manifest
from ..s3.http import HttpClient
from ..s3.issuer import StoredTransfer, UrlIssuer
from ..s3.upload import DEFAULT_CONCURRENCY as UPLOAD_CONCURRENCY
from ..s3.upload import StoredSummary, upload_manifest, upload_records
from .base import Progress, RecordSink, RecordSource

__all__ = ["S3ReceiveTransport", "S3SendTransport"]


class S3SendTransport:
    """`SendTransport` into storage. `held`: what the receiver said it holds (its last
    `have`, or nothing); after `send`, `stored` says what was stored."""

    via = Via.S3
    max_record_size = None

    def __init__(self, issuer: UrlIssuer, http: HttpClient, held: RangeSet, *,
                 concurrency: int = UPLOAD_CONCURRENCY) -> None:
        self.issuer = issuer
        self.http = http
        self.held = held
        self.concurrency = concurrency
        self.stored: StoredSummary | None = None
        self.stored_until: int | None = None

    async def begin(self, source: RecordSource) -> RangeSet:
        self.stored_until = await upload_manifest(source, self.issuer, self.http)
        return self.held

    async def send(self, source: RecordSource, held: RangeSet, progress: Progress) -> bool:
        layout = source.layout
        first = next(iter(held.complement()), 0)
        done = layout.record_offset(first)
        total = layout.sealed_size

        def sent(nbytes: int) -> None:
            nonlocal done
            done += nbytes
            progress(min(done, total), total)

        self.stored = await upload_records(source, self.issuer, self.http, first,
                                           concurrency=self.concurrency, progress=sent)
        self.stored_until = self.stored.stored_until
        return True

    async def close(self) -> None:
        """Nothing to release: the HTTP pool belongs to the caller."""


class S3ReceiveTransport:
    """`ReceiveTransport` from storage: what `issuer.download()` said is stored."""

    via = Via.S3

    def __init__(self, stored: StoredTransfer, http: HttpClient, *,
                 concurrency: int = DOWNLOAD_CONCURRENCY) -> None:
        self.stored = stored
        self.http = http
        self.concurrency = concurrency
        self.accepted = 0

    async def manifest(self) -> bytes:
        return await fetch_manifest(self.stored, self.http)

    async def announce(self, held: RangeSet) -> None:
        """Storage has no one to tell: `receive` fetches only what the sink lacks."""

    async def receive(self, sink: RecordSink, progress: Progress) -> None:
        layout = sink.manifest.layout
        done = layout.bytes_in(sink.progress.held)
        progress(done, layout.size)

        def fetched(nbytes: int) -> None:
            nonlocal done
            done += nbytes
            progress(min(done, layout.size), layout.size)

        self.accepted += await download_records(sink, self.stored, self.http,
                                                concurrency=self.concurrency,
                                                progress=fetched)

    async def finish(self, receipt: dict[str, Any] | None = None) -> None:
        """Nothing to tell: storage keeps the transfer until it expires (a receipt goes
        through the relay instead)."""

    async def refuse(self, code: str, message: str) -> None:
        """Nothing to tell."""

    async def close(self) -> None:
        """Nothing to release: the HTTP pool belongs to the caller."""
