"""What the cleanup function does with a batch of DynamoDB stream records.

DynamoDB's TTL deletes a live transfer item (transfers.py) at its expiry; the
table's stream delivers that deletion as a `REMOVE` record whose `userIdentity`
is the DynamoDB service. For each such record of a `TRANSFER` item that was not
already closed, the stored objects are deleted and the item is written back as
closed (`expired`), so a receiver learns why the link is dead.

The same code runs on AWS (the stream's event source mapping, filtered to these
records) and on the local stack (`devstack/sweeper.py`, because moto runs no TTL
and delivers no streams): only the trigger differs.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from .transfers import TransferControl

logger = logging.getLogger(__name__)

TTL_PRINCIPAL = "dynamodb.amazonaws.com"
ROOM_PREFIX = "ROOM#"


def expired_room(record: dict[str, Any]) -> str | None:
    """The room id of a TTL deletion of a live transfer item; None for any other record."""
    if record.get("eventName") != "REMOVE":
        return None
    who = record.get("userIdentity") or {}
    if who.get("type") != "Service" or who.get("principalId") != TTL_PRINCIPAL:
        return None  # deleted by a request (the relay), not by TTL: nothing to do
    change = record.get("dynamodb") or {}
    keys = change.get("Keys") or {}
    if keys.get("sk", {}).get("S") != "TRANSFER":
        return None
    if "closed" in (change.get("OldImage") or {}):
        return None  # a closed item's reason aged out: its objects went when it closed
    pk = str(keys.get("pk", {}).get("S", ""))
    return pk[len(ROOM_PREFIX):] if pk.startswith(ROOM_PREFIX) else None


def cleanup_records(control: TransferControl, records: Iterable[dict[str, Any]]
                    ) -> dict[str, list[dict[str, str]]]:
    """Delete the transfers whose items expired; a partial batch response for the rest.

    A record that fails is reported back (`batchItemFailures`), so the event source
    retries from it; deleting is idempotent, so a retried record does no harm.
    """
    failures: list[dict[str, str]] = []
    for record in records:
        room = expired_room(record)
        if room is None:
            continue
        try:
            control.expire(room)
        except Exception:
            logger.exception("could not delete an expired transfer", extra={"room": room})
            sequence = str((record.get("dynamodb") or {}).get("SequenceNumber", ""))
            failures.append({"itemIdentifier": sequence})
    return {"batchItemFailures": failures}
