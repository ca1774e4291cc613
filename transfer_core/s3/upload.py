"""Store a transfer: the sealed manifest, then records `first … count-1` as one object.

Parts hold whole records (the `PartPlan` of `transfer_core.storage`), are sealed
on demand from the `FileSource` in worker threads, and at most `concurrency`
are in memory at once, so memory is flat in the file size. An unfinished
multipart upload of the same object is resumed: the relay reports the parts S3
already holds and only the others are sealed and sent.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..storage.layout import PART_TARGET_BYTES, PartPlan
from .http import HttpClient
from .issuer import MAX_PART_URLS, UrlIssuer

if TYPE_CHECKING:
    from ..transport.base import RecordSource

logger = logging.getLogger(__name__)

DEFAULT_CONCURRENCY = 4


@dataclass(frozen=True)
class StoredSummary:
    """What an upload stored."""

    first: int
    """First record index of the records object."""
    records: int
    """Records in the object."""
    uploaded_bytes: int
    """Bytes sent this run (parts already held by S3 are not sent again)."""
    parts: int
    """Parts of the object (1 = single PUT)."""
    stored_until: int
    """Epoch seconds until which the transfer is kept."""


def plan_for(source: RecordSource, first: int, target_bytes: int = PART_TARGET_BYTES) -> PartPlan:
    layout = source.layout
    return PartPlan(layout.record_size, layout.record_length(layout.count - 1), layout.count,
                    first, target_bytes)


def _seal(source: RecordSource, records: range) -> bytes:
    parts: list[bytes] = []
    for index in records:  # one join of the pieces: each byte copied once
        record = source.sealed(index)
        parts += (record.header, record.body)
    return b"".join(parts)


class _PartBody:
    """A part's records, sealed as urllib3 sends them; iterable again for a retry."""

    def __init__(self, source: RecordSource, records: range) -> None:
        self._source = source
        self._records = records
        self.length = sum(source.layout.record_length(i) for i in records)

    def __iter__(self) -> Iterator[bytes]:
        for index in self._records:
            yield self._source.record(index)


async def upload_manifest(source: RecordSource, issuer: UrlIssuer, http: HttpClient) -> int:
    """Store the sealed manifest record; return until when the transfer is kept."""
    start = await issuer.upload_start("manifest", size=len(source.manifest_record))
    assert start.url is not None
    await asyncio.to_thread(http.put, start.url, source.manifest_record)
    return start.stored_until


async def upload_records(
    source: RecordSource, issuer: UrlIssuer, http: HttpClient, first: int = 0, *,
    concurrency: int = DEFAULT_CONCURRENCY, target_bytes: int = PART_TARGET_BYTES,
    progress: Callable[[int], None] | None = None,
) -> StoredSummary:
    """Store records `first … count-1`; `progress` gets the byte count of each part sent."""
    plan = plan_for(source, first, target_bytes)
    if not plan.multipart:
        start = await issuer.upload_start("records", first, 0, size=plan.object_bytes)
        assert start.url is not None
        body = await asyncio.to_thread(_seal, source, plan.part_records(1))
        await asyncio.to_thread(http.put, start.url, body)
        if progress:
            progress(len(body))
        return StoredSummary(first, plan.records, len(body), 1, start.stored_until)

    start = await issuer.upload_start("records", first, plan.parts, size=plan.object_bytes,
                                      part_size=plan.part_bytes)
    assert start.upload_id is not None
    upload_id = start.upload_id
    todo = [p for p in range(1, plan.parts + 1) if p not in start.uploaded]
    if start.uploaded:
        logger.info("resuming an upload: %d of %d parts already stored",
                    plan.parts - len(todo), plan.parts)
    urls: dict[int, str] = {}
    url_lock = asyncio.Lock()
    queue = iter(todo)
    sent = 0

    async def url_for(part: int) -> str:
        async with url_lock:
            if part not in urls:
                batch = [p for p in todo if p >= part and p not in urls][:MAX_PART_URLS]
                urls.update(await issuer.part_urls(first, upload_id, batch))
            return urls.pop(part)

    async def worker() -> None:
        nonlocal sent
        for part in queue:
            url = await url_for(part)
            body = _PartBody(source, plan.part_records(part))
            await asyncio.to_thread(http.put, url, body, body.length)
            sent += body.length
            if progress:
                progress(body.length)

    workers = [asyncio.create_task(worker()) for _ in range(max(1, concurrency))]
    try:
        await asyncio.gather(*workers)
    finally:
        for task in workers:
            task.cancel()
    stored_until = await issuer.upload_complete(first, upload_id, plan.parts)
    return StoredSummary(first, plan.records, sent, plan.parts, stored_until)
