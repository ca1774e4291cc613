"""Presigned URLs and multipart bookkeeping over one bucket (boto3; the relay's adapter).

The caller (the relay's service) decides *whether* a connection may have a URL
and builds the key from the caller's own room id; this module only talks to S3.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from .layout import MAX_PARTS

DEFAULT_URL_TTL_SECONDS = 600
_OCTET = "application/octet-stream"

__all__ = [
    "DEFAULT_URL_TTL_SECONDS",
    "MissingPartsError",
    "NoSuchUploadError",
    "S3Presigner",
    "StoredObject",
]


class NoSuchUploadError(Exception):
    """S3 knows no such multipart upload for this key (aborted, completed, or never made)."""


class MissingPartsError(Exception):
    """A multipart upload cannot be completed: parts are missing."""

    def __init__(self, first_missing: int) -> None:
        super().__init__(f"part {first_missing} has not been uploaded")
        self.first_missing = first_missing


@dataclass(frozen=True, slots=True)
class StoredObject:
    """A complete object under a room's prefix."""

    key: str
    """Object key."""
    size: int
    """Bytes."""
    modified: float
    """Epoch seconds of the upload (S3's LastModified)."""


def _code(exc: Exception) -> str:
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        return str(response.get("Error", {}).get("Code", ""))
    return ""


def ranges_of(numbers: Iterable[int]) -> list[list[int]]:
    """Sorted numbers as inclusive `[from, to]` runs (a compact answer for 10,000 parts)."""
    runs: list[list[int]] = []
    for n in sorted(set(numbers)):
        if runs and runs[-1][1] == n - 1:
            runs[-1][1] = n
        else:
            runs.append([n, n])
    return runs


class S3Presigner:
    """Presigns PUT/GET/UploadPart URLs and drives multipart uploads of one bucket."""

    def __init__(self, client: Any, bucket: str, url_ttl: int = DEFAULT_URL_TTL_SECONDS,
                 clock: Callable[[], float] = time.time) -> None:
        self._s3 = client
        self.bucket = bucket
        self.url_ttl = url_ttl
        self._clock = clock
        self.calls = 0
        """S3 requests made (presigning is local and not counted)."""

    def url_expiry(self) -> int:
        """Epoch seconds at which URLs presigned now stop working."""
        return int(self._clock()) + self.url_ttl

    def _presign(self, operation: str, **params: Any) -> str:
        url: str = self._s3.generate_presigned_url(
            operation, Params={"Bucket": self.bucket, **params}, ExpiresIn=self.url_ttl
        )
        return url

    def _call(self, operation: str, **params: Any) -> dict[str, Any]:
        self.calls += 1
        result: dict[str, Any] = getattr(self._s3, operation)(Bucket=self.bucket, **params)
        return result

    def put_url(self, key: str, size: int) -> str:
        """A single-PUT URL for exactly `size` bytes.

        `Content-Length` is a signed header of the URL, so S3 itself refuses any
        other body size (the client sends `Content-Type: application/octet-stream`).
        """
        return self._presign("put_object", Key=key, ContentType=_OCTET, ContentLength=size)

    def get_url(self, key: str) -> str:
        """A GET URL (ranged GETs work with it)."""
        return self._presign("get_object", Key=key)

    def start_upload(self, key: str) -> tuple[str, list[int]]:
        """The unfinished multipart upload of `key` (newest) with its parts, or a new one."""
        listing = self._call("list_multipart_uploads", Prefix=key)
        uploads = [u for u in listing.get("Uploads", []) if u.get("Key") == key]
        if uploads:
            newest = max(uploads, key=lambda u: u.get("Initiated", 0))
            upload_id = str(newest["UploadId"])
            return upload_id, [n for n, _, _ in self.uploaded_parts(key, upload_id)]
        created = self._call("create_multipart_upload", Key=key, ContentType=_OCTET)
        return str(created["UploadId"]), []

    def uploaded_parts(self, key: str, upload_id: str) -> list[tuple[int, int, str]]:
        """`(part number, size, ETag)` of every part S3 holds for the upload (ListParts, paged)."""
        parts: list[tuple[int, int, str]] = []
        marker = 0
        while True:
            try:
                page = self._call("list_parts", Key=key, UploadId=upload_id,
                                  PartNumberMarker=marker, MaxParts=1000)
            except Exception as exc:
                if _code(exc) in ("NoSuchUpload", "404"):
                    raise NoSuchUploadError(upload_id) from None
                raise
            parts += [(int(p["PartNumber"]), int(p["Size"]), str(p["ETag"]))
                      for p in page.get("Parts", [])]
            if not page.get("IsTruncated"):
                return parts
            marker = int(page["NextPartNumberMarker"])

    def part_urls(
        self, key: str, upload_id: str, parts: Iterable[tuple[int, int]]
    ) -> list[tuple[int, str]]:
        """UploadPart URLs for `(part number, exact size)` pairs, after checking the upload
        exists; each URL signs its `Content-Length`."""
        sizes = dict(parts)
        numbers = sorted(sizes)
        if not numbers or not all(1 <= n <= MAX_PARTS for n in numbers):
            raise ValueError(f"part numbers lie in [1, {MAX_PARTS}]")
        try:
            self._call("list_parts", Key=key, UploadId=upload_id, MaxParts=1)
        except Exception as exc:
            if _code(exc) in ("NoSuchUpload", "404"):
                raise NoSuchUploadError(upload_id) from None
            raise
        return [
            (n, self._presign("upload_part", Key=key, UploadId=upload_id, PartNumber=n,
                              ContentLength=sizes[n]))
            for n in numbers
        ]

    def complete(self, key: str, upload_id: str, parts: int) -> int:
        """Complete the upload with exactly parts `1…parts` as S3 lists them; return its size."""
        held = {n: (size, etag) for n, size, etag in self.uploaded_parts(key, upload_id)}
        for expected in range(1, parts + 1):
            if expected not in held:
                raise MissingPartsError(expected)
        chosen = [{"PartNumber": n, "ETag": held[n][1]} for n in range(1, parts + 1)]
        self._call("complete_multipart_upload", Key=key, UploadId=upload_id,
                   MultipartUpload={"Parts": chosen})
        return sum(held[n][0] for n in range(1, parts + 1))

    def purge(self, prefix: str) -> int:
        """Delete every object and abort every unfinished multipart upload under `prefix`;
        return how many of them there were (a revoked, used-up or expired transfer)."""
        if not prefix:
            raise ValueError("refusing to purge the whole bucket")
        keys = [o.key for o in self.objects(prefix)]
        for start in range(0, len(keys), 1000):  # DeleteObjects takes 1000 keys at a time
            self._call("delete_objects", Delete={
                "Objects": [{"Key": k} for k in keys[start:start + 1000]], "Quiet": True})
        aborted = 0
        kwargs: dict[str, Any] = {"Prefix": prefix}
        while True:
            page = self._call("list_multipart_uploads", **kwargs)
            for upload in page.get("Uploads", []):
                try:
                    self._call("abort_multipart_upload", Key=upload["Key"],
                               UploadId=upload["UploadId"])
                    aborted += 1
                except Exception as exc:
                    if _code(exc) not in ("NoSuchUpload", "404"):  # finished meanwhile
                        raise
            if not page.get("IsTruncated"):
                return len(keys) + aborted
            kwargs.update(KeyMarker=page["NextKeyMarker"],
                          UploadIdMarker=page["NextUploadIdMarker"])

    def objects(self, prefix: str) -> list[StoredObject]:
        """Every complete object under `prefix` (ListObjectsV2, paged)."""
        found: list[StoredObject] = []
        kwargs: dict[str, Any] = {"Prefix": prefix}
        while True:
            page = self._call("list_objects_v2", **kwargs)
            for item in page.get("Contents", []):
                modified = item["LastModified"]
                found.append(StoredObject(
                    str(item["Key"]), int(item["Size"]),
                    modified.timestamp() if hasattr(modified, "timestamp") else float(modified),
                ))
            if not page.get("IsTruncated"):
                return found
            kwargs["ContinuationToken"] = page["NextContinuationToken"]
