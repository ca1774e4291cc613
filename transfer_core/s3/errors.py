"""Failures of the S3 transport, each with a sentence a person can act on."""

from __future__ import annotations

from ..errors import SGraphSendError


class StorageError(SGraphSendError):
    """Storage could not be reached or refused a request, after retries."""


class TransferExpiredError(SGraphSendError):
    """Nothing is stored for this link: the transfer expired, was removed, or never existed."""
