"""Plain HTTP to presigned URLs: pooled connections, retries with backoff, errors translated.

A presigned URL is a credential (its query carries the signature): no message,
log line or error of this module ever contains one. Retries are this module's own
loop rather than urllib3's, for that reason (urllib3 logs the URL of every retry)
and so that re-sent bytes are counted (`retried_bytes`).
"""

from __future__ import annotations

import logging
import random
import re
import threading
import time
from collections.abc import Iterable
from typing import Any

import urllib3
from urllib3.exceptions import (
    HTTPError,
    NewConnectionError,
    ProtocolError,
    SSLError,
)
from urllib3.exceptions import (
    TimeoutError as Urllib3Timeout,
)

from .errors import StorageError

logger = logging.getLogger(__name__)

OCTET_STREAM = "application/octet-stream"
RETRY_STATUSES = frozenset({500, 502, 503, 504})
DEFAULT_ATTEMPTS = 7
DEFAULT_BACKOFF = 0.2
BACKOFF_MAX = 10.0
_PRESIGNED = re.compile(r"\S*[?&](?:X-Amz-[A-Za-z]+|Signature|AWSAccessKeyId)=\S*")


def redact_urls(text: str) -> str:
    """`text` with every presigned URL (anything with a signature query) cut out."""
    return _PRESIGNED.sub("<presigned URL>", text)


def describe(exc: BaseException) -> str:
    """A transport failure in a few words, never with its URL."""
    if isinstance(exc, NewConnectionError):
        return "connection refused"
    if isinstance(exc, Urllib3Timeout):
        return "timed out"
    if isinstance(exc, ProtocolError):
        return "connection reset or answer cut short"
    if isinstance(exc, SSLError):
        return "TLS failure"
    return type(exc).__name__


class HttpClient:
    """PUT and ranged GET against presigned URLs; safe to share between threads.

    5xx answers, timeouts, resets and cut-short answers are retried `attempts` times
    in all, with exponential backoff and jitter.
    """

    def __init__(self, pool_size: int = 8, timeout: float = 60.0,
                 attempts: int = DEFAULT_ATTEMPTS, backoff: float = DEFAULT_BACKOFF) -> None:
        self.attempts = max(1, attempts)
        self.backoff = backoff
        self.retried_bytes = 0
        """Bytes of uploads sent again after a failed attempt (the sender's re-sent bytes)."""
        self.retries = 0
        self._lock = threading.Lock()
        self._pool = urllib3.PoolManager(
            num_pools=4, maxsize=pool_size, block=False,
            timeout=urllib3.Timeout(connect=10.0, read=timeout),
        )

    def _request(self, method: str, url: str, length: int = 0,
                 **kwargs: Any) -> urllib3.BaseHTTPResponse:
        for attempt in range(1, self.attempts + 1):
            try:
                response = self._pool.request(method, url, retries=False,
                                              preload_content=True, **kwargs)
            except HTTPError as exc:
                failure = f"storage could not be reached ({describe(exc)})"
            else:
                if response.status not in RETRY_STATUSES:
                    return response
                failure = f"storage failed (HTTP {response.status})"
            if attempt == self.attempts:
                raise StorageError(f"{failure}, {attempt} attempts")
            with self._lock:
                self.retries += 1
                if method == "PUT":
                    self.retried_bytes += length
            logger.info("storage %s attempt %d: %s; retrying", method, attempt, failure)
            delay = min(BACKOFF_MAX, self.backoff * 2 ** (attempt - 1))
            time.sleep(delay + random.uniform(0, self.backoff))
        raise AssertionError("unreachable")

    def put(self, url: str, body: bytes | Iterable[bytes], length: int | None = None) -> str:
        """PUT `body` (always with `Content-Type: application/octet-stream`); return the ETag.

        `body` may be a re-iterable of byte strings (sealed records, made as they are
        sent, so a part never sits whole in memory) with its total `length`.
        """
        headers = {"Content-Type": OCTET_STREAM}
        size = len(body) if isinstance(body, bytes) else int(length or 0)
        if not isinstance(body, bytes):
            headers["Content-Length"] = str(length)
        response = self._request("PUT", url, size, body=body, headers=headers)
        if response.status != 200:
            raise StorageError(
                f"storage refused an upload (HTTP {response.status}{_code(response)})"
            )
        return str(response.headers.get("ETag", ""))

    def get(self, url: str, start: int | None = None, end: int | None = None) -> bytes:
        """GET the object, or bytes `start…end-1` of it. 404/403 raise `StorageError`."""
        headers = {} if start is None else {"Range": f"bytes={start}-{(end or 0) - 1}"}
        expected = None if start is None else (end or 0) - start
        for attempt in range(1, self.attempts + 1):
            response = self._request("GET", url, headers=headers)
            if response.status not in (200, 206):
                raise StorageError(
                    f"storage refused a download (HTTP {response.status}{_code(response)})"
                )
            data = bytes(response.data)
            # a proxy that cuts a body short without a reset: ask again, like a reset
            if expected is None or len(data) == expected or attempt == self.attempts:
                return data
            with self._lock:
                self.retries += 1
            logger.info("storage GET attempt %d: %d of %d bytes; retrying", attempt,
                        len(data), expected)
        raise AssertionError("unreachable")

    def close(self) -> None:
        self._pool.clear()


def _code(response: urllib3.BaseHTTPResponse) -> str:
    """S3's error code from its XML answer (never the rest: it can quote the request)."""
    text = response.data[:2000].decode("utf-8", "replace") if response.data else ""
    found = re.search(r"<Code>([A-Za-z0-9.]{1,64})</Code>", text)
    return f" {found.group(1)}" if found else ""
