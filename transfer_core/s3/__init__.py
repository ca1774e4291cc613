"""The S3 transport: sealed records to and from presigned URLs (docs/protocol.md §10).

`upload` stores a manifest and a records object, multipart with bounded
parallelism and resume; `download` fetches the records a receiver lacks with
ranged GETs and verifies each at its known index. URLs come from the relay
through a `UrlIssuer`; bytes go over plain HTTP (urllib3) in worker threads.
"""

from .errors import StorageError, StoredPartMissingError, TransferExpiredError
from .http import HttpClient
from .issuer import RelayUrlIssuer, UrlIssuer

__all__ = ["HttpClient", "RelayUrlIssuer", "StorageError", "StoredPartMissingError",
           "TransferExpiredError", "UrlIssuer"]
