"""Where presigned URLs come from: the relay's storage actions (docs/signalling.md §6)."""

from __future__ import annotations

from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Any, Protocol

from ..signalling.client import RelayError
from ..signalling.control import closed_error
from .errors import StorageError, TransferExpiredError

MAX_PART_URLS = 16


@dataclass(frozen=True)
class UploadStart:
    """A PUT URL (`url`) or a multipart upload (`upload_id`, parts S3 already holds)."""

    url: str | None
    upload_id: str | None
    uploaded: frozenset[int]
    stored_until: int


@dataclass(frozen=True)
class StoredRecords:
    """One complete records object."""

    first: int
    size: int
    url: str


@dataclass(frozen=True)
class StoredTransfer:
    """GET URLs of everything stored for the room."""

    manifest_url: str
    manifest_size: int
    records: tuple[StoredRecords, ...]
    stored_until: int


class UrlIssuer(Protocol):
    """The relay, as the S3 transport sees it. Errors: `StorageError`, `TransferExpiredError`."""

    async def upload_start(self, obj: str, first: int | None = None,
                           parts: int | None = None, *, size: int,
                           part_size: int | None = None) -> UploadStart: ...

    async def part_urls(self, first: int, upload_id: str, parts: list[int]) -> dict[int, str]: ...

    async def upload_complete(self, first: int, upload_id: str, parts: int) -> int: ...

    async def download(self) -> StoredTransfer: ...


class Request(Protocol):
    """One storage action on the relay and its reply (`SignalClient.request`)."""

    def __call__(self, body: dict[str, Any], timeout: float = ...) -> Awaitable[dict[str, Any]]:
        ...


COMPLETE_TIMEOUT = 120.0
"""Seconds for `upload-complete`: S3 may take minutes to join a large upload (it keeps the
connection alive meanwhile), and the relay's S3 client waits that long for it."""


class RelayUrlIssuer:
    """`UrlIssuer` over the relay: `request` is `SignalClient.request` (or a test double)."""

    def __init__(self, request: Request) -> None:
        self._request = request

    async def _ask(self, body: dict[str, Any], timeout: float | None = None) -> dict[str, Any]:
        try:
            if timeout is None:
                return await self._request(body)
            return await self._request(body, timeout=timeout)
        except RelayError as exc:
            closed = closed_error(exc.code)  # expired, used up or revoked: it is gone
            if closed is not None:
                raise closed from None
            if exc.code == "expired":
                raise TransferExpiredError(
                    "this transfer has expired or does not exist: nothing is stored for this"
                    " link"
                ) from None
            raise StorageError(f"the relay refused a storage request: {exc}") from None

    async def upload_start(self, obj: str, first: int | None = None,
                           parts: int | None = None, *, size: int,
                           part_size: int | None = None) -> UploadStart:
        # `size` (and `partSize` for a multipart upload) bind every URL to exact bytes
        body: dict[str, Any] = {"action": "upload-start", "object": obj, "size": size}
        if obj == "records":
            body.update(first=first, parts=parts)
        if part_size is not None:
            body["partSize"] = part_size
        reply = await self._ask(body)
        uploaded = {n for a, b in reply.get("uploaded", []) for n in range(a, b + 1)}
        return UploadStart(reply.get("url"), reply.get("uploadId"), frozenset(uploaded),
                           int(reply["storedUntil"]))

    async def part_urls(self, first: int, upload_id: str, parts: list[int]) -> dict[int, str]:
        reply = await self._ask({"action": "upload-parts", "first": first,
                                 "uploadId": upload_id, "parts": parts})
        return {int(u["part"]): str(u["url"]) for u in reply["urls"]}

    async def upload_complete(self, first: int, upload_id: str, parts: int) -> int:
        reply = await self._ask({"action": "upload-complete", "first": first,
                                 "uploadId": upload_id, "parts": parts}, COMPLETE_TIMEOUT)
        return int(reply["storedUntil"])

    async def download(self) -> StoredTransfer:
        reply = await self._ask({"action": "download-urls"})
        return StoredTransfer(
            reply["manifest"]["url"], int(reply["manifest"]["size"]),
            tuple(StoredRecords(int(r["first"]), int(r["size"]), str(r["url"]))
                  for r in reply["records"]),
            int(reply["storedUntil"]),
        )
