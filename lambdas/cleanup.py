"""Cleanup handler: the table's stream (TTL deletions of transfer items) -> delete objects."""

from typing import Any

from ._runtime import logger, transfers
from .signalling.cleanup import cleanup_records


@logger.inject_lambda_context
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Delete the stored objects of every transfer whose item DynamoDB's TTL removed."""
    if transfers is None:
        raise RuntimeError("BUCKET_NAME is not set: the cleanup function has no bucket")
    return cleanup_records(transfers, event.get("Records", []))
