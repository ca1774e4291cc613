"""Fetch a stored transfer: the manifest, then only the records the receiver lacks.

Each records object is checked against the size the manifest implies (a part
left out makes it shorter), then read with ranged GETs of whole records in
worker threads, at most `concurrency` ranges in memory at once. Every record
is opened at its known index (`expected_index`), so a swapped part is
*misplaced* and a flipped bit *tampered*; only verified chunks are written,
counted as delivered by S3 in the receiver's progress record.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from ..errors import DuplicateRecordError, TamperedRecordError, TruncatedTransferError
from ..protocol.layout import ChunkLayout
from ..protocol.progress import Via
from ..storage.layout import PART_TARGET_BYTES
from .errors import StoredPartMissingError
from .http import HttpClient
from .issuer import StoredRecords, StoredTransfer

if TYPE_CHECKING:
    from ..transport.base import RecordSink

DEFAULT_CONCURRENCY = 4


def expected_object_size(layout: ChunkLayout, first: int) -> int:
    """Bytes of the records object starting at `first` (docs/protocol.md §10)."""
    return layout.sealed_size - layout.record_offset(first)


def ranges_to_fetch(partial: RecordSink, obj: StoredRecords,
                    target_bytes: int = PART_TARGET_BYTES) -> Iterator[range]:
    """Runs of missing record indices in the object, each at most about `target_bytes`."""
    layout = partial.manifest.layout
    per_range = max(1, target_bytes // layout.record_size)
    for start, stop in partial.missing().ranges():
        lo, hi = max(start, obj.first), min(stop, layout.count)
        for a in range(lo, hi, per_range):
            yield range(a, min(a + per_range, hi))


def check_object(layout: ChunkLayout, obj: StoredRecords) -> None:
    """A records object must be exactly as long as its records; else nothing of it is used."""
    if not 0 <= obj.first < layout.count:
        raise TamperedRecordError(f"a stored object starts at record {obj.first}, outside the file")
    expected = expected_object_size(layout, obj.first)
    if obj.size < expected:
        raise StoredPartMissingError(
            f"the stored copy is incomplete: the records from {obj.first} on are"
            f" {expected - obj.size} bytes short (a part is missing)"
        )
    if obj.size > expected:
        raise TamperedRecordError("a stored records object is longer than its records")


async def fetch_manifest(stored: StoredTransfer, http: HttpClient) -> bytes:
    return await asyncio.to_thread(http.get, stored.manifest_url)


async def download_records(
    partial: RecordSink, stored: StoredTransfer, http: HttpClient, *,
    concurrency: int = DEFAULT_CONCURRENCY, target_bytes: int = PART_TARGET_BYTES,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Fetch and accept every missing record the stored objects hold; return records accepted."""
    layout = partial.manifest.layout
    for obj in stored.records:
        check_object(layout, obj)
    lock = threading.Lock()
    # a worker thread cannot be cancelled: once the download stops (done, or a failed
    # fetch), threads still fetching must not write or save beside the final save
    stopped = threading.Event()
    accepted = 0

    def fetch(obj: StoredRecords, records: range) -> None:
        nonlocal accepted
        begin = layout.record_offset(records.start) - layout.record_offset(obj.first)
        length = sum(layout.record_length(i) for i in records)
        body = http.get(obj.url, begin, begin + length)
        if len(body) != length:
            raise TruncatedTransferError(
                f"storage returned {len(body)} of {length} bytes for records"
                f" {records.start}…{records[-1]}"
            )
        view = memoryview(body)
        offset = 0
        for index in records:
            size = layout.record_length(index)
            record = bytes(view[offset:offset + size])
            offset += size
            with lock:
                if stopped.is_set():
                    return
                try:
                    partial.accept(record, Via.S3, expected_index=index)
                except DuplicateRecordError:
                    continue
                accepted += 1
        if progress:
            with lock:  # the callback (a progress bar, JSON lines) is not thread-safe
                progress(length)

    jobs = [(obj, r) for obj in stored.records for r in ranges_to_fetch(partial, obj, target_bytes)]
    semaphore = asyncio.Semaphore(max(1, concurrency))

    async def run(obj: StoredRecords, records: range) -> None:
        async with semaphore:
            await asyncio.to_thread(fetch, obj, records)

    tasks = [asyncio.create_task(run(obj, r)) for obj, r in jobs]
    try:
        await asyncio.gather(*tasks)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

        def save() -> None:
            with lock:
                stopped.set()
                partial.save()

        await asyncio.to_thread(save)
    return accepted


__all__ = ["check_object", "download_records", "expected_object_size", "fetch_manifest",
           "ranges_to_fetch"]
