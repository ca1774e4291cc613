"""Plain HTTP to presigned URLs: pooled connections, retries with backoff, errors translated."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

import urllib3
from urllib3.exceptions import HTTPError
from urllib3.util.retry import Retry

from .errors import StorageError

logger = logging.getLogger(__name__)

OCTET_STREAM = "application/octet-stream"
RETRY_STATUSES = frozenset({500, 502, 503, 504})


def default_retry(attempts: int = 6, backoff: float = 0.2) -> Retry:
    """Retry 5xx answers, timeouts and connection resets, with exponential backoff."""
    return Retry(
        total=attempts, connect=attempts, read=attempts, status=attempts, other=attempts,
        backoff_factor=backoff, backoff_max=10.0, backoff_jitter=backoff,
        status_forcelist=RETRY_STATUSES, allowed_methods=frozenset({"GET", "PUT"}),
        raise_on_status=False, respect_retry_after_header=True,
    )


class HttpClient:
    """PUT and ranged GET against presigned URLs; safe to share between threads."""

    def __init__(self, pool_size: int = 8, timeout: float = 60.0,
                 retry: Retry | None = None) -> None:
        self.retry = retry or default_retry()
        self._pool = urllib3.PoolManager(
            num_pools=4, maxsize=pool_size, block=False,
            timeout=urllib3.Timeout(connect=10.0, read=timeout),
        )

    def _request(self, method: str, url: str, **kwargs: Any) -> urllib3.BaseHTTPResponse:
        try:
            response = self._pool.request(method, url, retries=self.retry.new(),
                                          preload_content=True, **kwargs)
        except HTTPError as exc:
            raise StorageError(f"storage could not be reached: {exc}") from None
        return response

    def put(self, url: str, body: bytes | Iterable[bytes], length: int | None = None) -> str:
        """PUT `body` (always with `Content-Type: application/octet-stream`); return the ETag.

        `body` may be a re-iterable of byte strings (sealed records, made as they are
        sent, so a part never sits whole in memory) with its total `length`.
        """
        headers = {"Content-Type": OCTET_STREAM}
        if not isinstance(body, bytes):
            headers["Content-Length"] = str(length)
        response = self._request("PUT", url, body=body, headers=headers)
        if response.status != 200:
            raise StorageError(
                f"storage refused an upload (HTTP {response.status}): {_reason(response)}"
            )
        return str(response.headers.get("ETag", ""))

    def get(self, url: str, start: int | None = None, end: int | None = None) -> bytes:
        """GET the object, or bytes `start…end-1` of it. 404/403 raise `StorageError`."""
        headers = {} if start is None else {"Range": f"bytes={start}-{(end or 0) - 1}"}
        response = self._request("GET", url, headers=headers)
        if response.status not in (200, 206):
            raise StorageError(
                f"storage refused a download (HTTP {response.status}): {_reason(response)}"
            )
        return bytes(response.data)

    def close(self) -> None:
        self._pool.clear()


def _reason(response: urllib3.BaseHTTPResponse) -> str:
    text = response.data[:300].decode("utf-8", "replace") if response.data else ""
    return text.replace("\n", " ") or str(response.reason)
