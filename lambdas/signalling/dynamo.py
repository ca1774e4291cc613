"""DynamoDB adapter of the `Repository` port (low-level botocore client, no resource layer).

Item layout (table schema in docs/contracts.md; detail in docs/signalling.md):

| item | pk | sk | other attributes |
| --- | --- | --- | --- |
| connection | `CONN#<connection id>` | `CONN` | room_id, role, slot, connected_at, ttl, n<minute> |
| slot | `ROOM#<room id>` | `SLOT#<slot>` | connection_id, role, token_hash, connected_at, ttl |
| connect counter | `RATE#<client hash>` | `CONNECT#<minute>` | n, ttl |
| upload plan | `ROOM#<room id>` | `UPLOAD#<first>` | upload_id, size, part_size, parts, ttl |

Connection items carry `room_id`, so the `room-index` GSI lists a room's
connections; the relay itself reads room membership from the slot items with
a strongly consistent Query (a GSI is only eventually consistent, and a peer
that says hello right after connecting must be seen).
"""

from __future__ import annotations

from typing import Any

from .model import Connection, Member
from .ports import SlotTaken, UploadPlan

#: How many earlier per-minute message counters `add_frames` clears. A connection
#: idle for longer than API Gateway's 10-minute idle timeout is closed, so no
#: gap between two messages is longer than this.
_STALE_WINDOWS = 10


def _is_conditional_failure(exc: Exception) -> bool:
    response = getattr(exc, "response", None)
    if not isinstance(response, dict):
        return False
    return response.get("Error", {}).get("Code") == "ConditionalCheckFailedException"


def _s(item: dict[str, Any], name: str) -> str:
    return str(item[name]["S"])


def _n(item: dict[str, Any], name: str) -> int:
    return int(item[name]["N"])


class DynamoRepository:
    """`Repository` over one DynamoDB table."""

    def __init__(self, client: Any, table_name: str) -> None:
        self._client = client
        self._table = table_name
        self.calls = 0
        """DynamoDB requests made through this adapter (for the benchmark)."""

    def _call(self, operation: str, **kwargs: Any) -> dict[str, Any]:
        self.calls += 1
        result: dict[str, Any] = getattr(self._client, operation)(TableName=self._table, **kwargs)
        return result

    def count_connect(self, client_hash: str, window: int, n: int, expires_at: int) -> int:
        result = self._call(
            "update_item",
            Key={"pk": {"S": f"RATE#{client_hash}"}, "sk": {"S": f"CONNECT#{window}"}},
            UpdateExpression="ADD n :n SET #ttl = :exp",
            ExpressionAttributeNames={"#ttl": "ttl"},
            ExpressionAttributeValues={":n": {"N": str(n)}, ":exp": {"N": str(expires_at)}},
            ReturnValues="UPDATED_NEW",
        )
        return _n(result["Attributes"], "n")

    def claim_slot(
        self, connection: Connection, token_hash: str | None, now: int,
        take_over: str | None = None,
    ) -> str | None:
        slot_item: dict[str, Any] = {
            "pk": {"S": f"ROOM#{connection.room_id}"},
            "sk": {"S": f"SLOT#{connection.slot}"},
            "connection_id": {"S": connection.connection_id},
            "role": {"S": connection.role},
            "connected_at": {"N": str(connection.connected_at)},
            "ttl": {"N": str(connection.expires_at)},
        }
        condition = "attribute_not_exists(pk) OR #ttl < :now"
        values: dict[str, Any] = {":now": {"N": str(now)}}
        if token_hash is not None:
            slot_item["token_hash"] = {"S": token_hash}
            condition += " OR token_hash = :th"
            values[":th"] = {"S": token_hash}
        if take_over is not None:
            condition += " OR connection_id = :old"
            values[":old"] = {"S": take_over}
        try:
            old = self._call(
                "put_item",
                Item=slot_item,
                ConditionExpression=condition,
                ExpressionAttributeNames={"#ttl": "ttl"},
                ExpressionAttributeValues=values,
                ReturnValues="ALL_OLD",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            ).get("Attributes")
        except Exception as exc:
            if _is_conditional_failure(exc):
                held = getattr(exc, "response", {}).get("Item") or {}
                raise SlotTaken(_member(held, connection.slot)) from None
            raise
        # Written second: if this fails the slot points at a connection that never
        # existed, which the next relay finds gone (410) and removes.
        self._call(
            "put_item",
            Item={
                "pk": {"S": f"CONN#{connection.connection_id}"},
                "sk": {"S": "CONN"},
                "room_id": {"S": connection.room_id},
                "role": {"S": connection.role},
                "slot": {"S": connection.slot},
                "connected_at": {"N": str(connection.connected_at)},
                "ttl": {"N": str(connection.expires_at)},
            },
        )
        if old and _n(old, "ttl") >= now:
            return _s(old, "connection_id")
        return None

    def connection(self, connection_id: str, now: int) -> Connection | None:
        item = self._call(
            "get_item",
            Key={"pk": {"S": f"CONN#{connection_id}"}, "sk": {"S": "CONN"}},
            ConsistentRead=True,
            ProjectionExpression="room_id, #r, slot, connected_at, #ttl",
            ExpressionAttributeNames={"#r": "role", "#ttl": "ttl"},
        ).get("Item")
        if not item or _n(item, "ttl") < now:
            return None
        return _connection(connection_id, item)

    def add_frames(self, connection_id: str, window: int, n: int, now: int) -> int | None:
        names = {"#n": f"n{window}", "#ttl": "ttl"}
        stale = []
        for back in range(1, _STALE_WINDOWS + 1):
            names[f"#p{back}"] = f"n{window - back}"
            stale.append(f"#p{back}")
        try:
            result = self._call(
                "update_item",
                Key={"pk": {"S": f"CONN#{connection_id}"}, "sk": {"S": "CONN"}},
                UpdateExpression="SET #n = if_not_exists(#n, :zero) + :k REMOVE "
                + ", ".join(stale),
                ConditionExpression="attribute_exists(pk) AND #ttl >= :now",
                ExpressionAttributeNames=names,
                ExpressionAttributeValues={
                    ":zero": {"N": "0"},
                    ":k": {"N": str(n)},
                    ":now": {"N": str(now)},
                },
                ReturnValues="UPDATED_NEW",
            )
        except Exception as exc:
            if _is_conditional_failure(exc):
                return None
            raise
        return _n(result["Attributes"], f"n{window}")

    def members(self, room_id: str, now: int) -> list[Member]:
        result = self._call(
            "query",
            KeyConditionExpression="pk = :pk AND begins_with(sk, :slot)",  # not UPLOAD#
            ExpressionAttributeValues={":pk": {"S": f"ROOM#{room_id}"}, ":slot": {"S": "SLOT#"}},
            ConsistentRead=True,
        )
        return [
            _member(item, _s(item, "sk")[len("SLOT#") :])
            for item in result.get("Items", [])
            if _n(item, "ttl") >= now
        ]

    def delete_connection(self, connection_id: str) -> Connection | None:
        result = self._call(
            "delete_item",
            Key={"pk": {"S": f"CONN#{connection_id}"}, "sk": {"S": "CONN"}},
            ReturnValues="ALL_OLD",
        )
        old = result.get("Attributes")
        return _connection(connection_id, old) if old else None

    def release_slot(self, room_id: str, slot: str, connection_id: str) -> bool:
        try:
            self._call(
                "delete_item",
                Key={"pk": {"S": f"ROOM#{room_id}"}, "sk": {"S": f"SLOT#{slot}"}},
                ConditionExpression="connection_id = :cid",
                ExpressionAttributeValues={":cid": {"S": connection_id}},
            )
        except Exception as exc:
            if _is_conditional_failure(exc):
                return False
            raise
        return True


    def put_upload_plan(self, room_id: str, first: int, plan: UploadPlan) -> None:
        self._call(
            "put_item",
            Item={
                "pk": {"S": f"ROOM#{room_id}"},
                "sk": {"S": f"UPLOAD#{first}"},
                "upload_id": {"S": plan.upload_id},
                "size": {"N": str(plan.size)},
                "part_size": {"N": str(plan.part_size)},
                "parts": {"N": str(plan.parts)},
                "ttl": {"N": str(plan.expires_at)},
            },
        )

    def upload_plan(self, room_id: str, first: int, now: int) -> UploadPlan | None:
        item = self._call(
            "get_item",
            Key={"pk": {"S": f"ROOM#{room_id}"}, "sk": {"S": f"UPLOAD#{first}"}},
            ConsistentRead=True,
        ).get("Item")
        if not item or _n(item, "ttl") < now:
            return None
        return UploadPlan(_s(item, "upload_id"), _n(item, "size"), _n(item, "part_size"),
                          _n(item, "parts"), _n(item, "ttl"))


def _member(item: dict[str, Any], slot: str) -> Member:
    """A slot item as a member (items written before `connected_at` existed count as old)."""
    return Member(
        str(item.get("connection_id", {}).get("S", "")),
        str(item.get("role", {}).get("S", "")),
        slot,
        int(item.get("connected_at", {}).get("N", "0")),
    )


def _connection(connection_id: str, item: dict[str, Any]) -> Connection:
    return Connection(
        connection_id=connection_id,
        room_id=_s(item, "room_id"),
        role=_s(item, "role"),
        slot=_s(item, "slot"),
        connected_at=_n(item, "connected_at"),
        expires_at=_n(item, "ttl"),
    )
