"""Failures of the S3 transport, each with a sentence a person can act on."""

from __future__ import annotations

from ..errors import SGraphSendError, TruncatedTransferError


class StorageError(SGraphSendError):
    """Storage could not be reached or refused a request, after retries."""


class TransferExpiredError(SGraphSendError):
    """Nothing is stored for this link: the transfer expired, was removed, or never existed."""


class StoredPartMissingError(TruncatedTransferError):
    """A complete stored object is shorter than its records: a part is gone for good.

    Only completed uploads are listed for download, so this is no upload still under
    way: the stored copy was cut short (or tampered with). A verification failure, as
    on the page; nothing of that object is used.
    """
