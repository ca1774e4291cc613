"""DynamoDB TTL and its stream, for the local stack: the trigger of the cleanup function.

On AWS, DynamoDB's TTL deletes a transfer item at its expiry and the table's stream
hands the deletion to the cleanup function (`lambdas/cleanup.py`). moto stores a TTL
but never deletes an expired item, and delivers no stream records to Lambdas. So the
local stack runs this sweeper: every `interval` seconds it finds live transfer items
past their `ttl`, deletes each as TTL would (conditionally: a relay that closed it
meanwhile wins), and hands the deletion to the SAME cleanup handler, in a Lambda
worker, as the stream record AWS would deliver (`tests/events/dynamodb_ttl_remove.json`).
The handler logic is shared; only the trigger differs. Only transfer items are swept:
nothing else in the table has a stream consumer, and the handlers ignore expired
items anyway.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

logger = logging.getLogger(__name__)

SWEEP_SECONDS = 1.0
TTL_IDENTITY = {"type": "Service", "principalId": "dynamodb.amazonaws.com"}


def stream_record(item: dict[str, Any], region: str, table: str) -> dict[str, Any]:
    """The `REMOVE` record DynamoDB Streams delivers for a TTL deletion (OLD_IMAGE view)."""
    return {
        "eventID": uuid.uuid4().hex,
        "eventName": "REMOVE",
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": region,
        "userIdentity": dict(TTL_IDENTITY),
        "dynamodb": {
            "ApproximateCreationDateTime": int(time.time()),
            "Keys": {"pk": item["pk"], "sk": item["sk"]},
            "OldImage": item,
            "SequenceNumber": str(time.time_ns()),
            "SizeBytes": 0,
            "StreamViewType": "OLD_IMAGE",
        },
        "eventSourceARN": f"arn:aws:dynamodb:{region}:000000000000:table/{table}/stream/local",
    }


SWEEPER_HEADER = "X-Devstack-Sweeper"


def _mark_as_sweeper(request: Any, **_: Any) -> None:
    request.headers[SWEEPER_HEADER] = "1"


class TtlSweeper:
    """Deletes expired transfer items as DynamoDB's TTL would, and invokes the cleanup."""

    def __init__(self, client: Any, table: str, region: str,
                 invoke: Callable[[dict[str, Any]], Awaitable[dict[str, Any]]],
                 interval: float = SWEEP_SECONDS) -> None:
        self._client = client
        # moto_backend counts the handlers' DynamoDB calls (a benchmark reports them per
        # relayed message): the stand-in for DynamoDB's own TTL scan is not one of them
        client.meta.events.register("before-sign.dynamodb.*", _mark_as_sweeper)
        self._table = table
        self._region = region
        self._invoke = invoke
        self.interval = interval
        self.swept = 0
        """Transfer items deleted so far."""

    def expired(self, now: int) -> list[dict[str, Any]]:
        """Live transfer items whose `ttl` has passed (a Scan: local stack only)."""
        found: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "FilterExpression": "sk = :t AND #ttl < :now AND attribute_not_exists(closed)",
            "ExpressionAttributeNames": {"#ttl": "ttl"},
            "ExpressionAttributeValues": {":t": {"S": "TRANSFER"}, ":now": {"N": str(now)}},
        }
        while True:
            page = self._client.scan(**kwargs)
            found += page.get("Items", [])
            if "LastEvaluatedKey" not in page:
                return found
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def _delete(self, item: dict[str, Any], now: int) -> dict[str, Any] | None:
        try:
            return self._client.delete_item(
                TableName=self._table, Key={"pk": item["pk"], "sk": item["sk"]},
                ConditionExpression="#ttl < :now AND attribute_not_exists(closed)",
                ExpressionAttributeNames={"#ttl": "ttl"},
                ExpressionAttributeValues={":now": {"N": str(now)}},
                ReturnValues="ALL_OLD",
            ).get("Attributes")
        except self._client.exceptions.ConditionalCheckFailedException:
            return None  # closed or extended meanwhile: TTL would not delete it either

    async def sweep(self) -> int:
        """One pass: delete what expired and deliver it to the cleanup handler."""
        now = int(time.time())
        items = await asyncio.to_thread(self.expired, now)
        records = []
        for item in items:
            old = await asyncio.to_thread(self._delete, item, now)
            if old is not None:
                records.append(stream_record(old, self._region, self._table))
        if records:
            result = await self._invoke({"Records": records})
            if result.get("batchItemFailures"):
                logger.warning("cleanup failed for %d records", len(result["batchItemFailures"]))
            self.swept += len(records)
        return len(records)

    async def run(self) -> None:
        """Sweep every `interval` seconds until cancelled."""
        while True:
            try:
                await self.sweep()
            except Exception:  # a failed pass is retried on the next, as the stream would
                logger.exception("TTL sweep failed")
            await asyncio.sleep(self.interval)
