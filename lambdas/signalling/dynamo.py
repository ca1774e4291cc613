"""DynamoDB adapter of the `Repository` port (low-level botocore client, no resource layer).

Item layout (table schema in docs/contracts.md; detail in docs/signalling.md):

| item | pk | sk | other attributes |
| --- | --- | --- | --- |
| connection | `CONN#<connection id>` | `CONN` | room_id, role, slot, connected_at, ttl, n<minute> |
| slot | `ROOM#<room id>` | `SLOT#<slot>` | connection_id, role, token_hash, connected_at, ttl |
| client record | `RATE#<client hash>` | `CONNECT` | n<minute>, `c:<connection id>` (expiry), ttl |
| upload plan | `ROOM#<room id>` | `UPLOAD#<first>` | upload_id, size, part_size, parts, ttl |

Connection items carry `room_id`, so the `room-index` GSI lists a room's
connections; the relay itself reads room membership from the slot items with
a strongly consistent Query (a GSI is only eventually consistent, and a peer
that says hello right after connecting must be seen).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from .model import Connection, Member
from .ports import ClientRecord, SlotTaken, UploadPlan

#: How many earlier per-minute message counters `add_frames` clears. A connection
#: idle for longer than API Gateway's 10-minute idle timeout is closed, so no
#: gap between two messages is longer than this.
_STALE_WINDOWS = 10
#: Prefix of a client record's attributes naming an admitted connection (value: expiry).
_CONN_ATTR = "c:"
#: Most attributes one write of a client record removes (keeps the expression small).
_MAX_REMOVALS = 64
#: BatchGetItem takes at most 100 keys a request.
_BATCH_GET = 100


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
        self._stale: dict[str, list[str]] = {}
        """Per client record: earlier minutes' counts its last write returned."""

    def _call(self, operation: str, **kwargs: Any) -> dict[str, Any]:
        self.calls += 1
        result: dict[str, Any] = getattr(self._client, operation)(TableName=self._table, **kwargs)
        return result

    def count_connect(
        self, client_hash: str, window: int, n: int, expires_at: int,
        admitted: Mapping[str, int] | None = None, closed: Collection[str] = (),
    ) -> ClientRecord:
        # One item per client hash (the hash changes daily): the minute's attempts in
        # `n<minute>`, each admitted connection in `c:<id>`. One UpdateItem does it all;
        # ALL_NEW returns the whole record, so the caller sees every instance's
        # connections without a read. Earlier minutes' counts seen in the last answer
        # are removed by the next write (REMOVE of a missing attribute is a no-op).
        pk = f"RATE#{client_hash}"
        names: dict[str, str] = {"#n": f"n{window}", "#ttl": "ttl"}
        values: dict[str, Any] = {":n": {"N": str(n)}, ":exp": {"N": str(expires_at)}}
        sets = ["#ttl = :exp"]
        for i, (connection_id, expiry) in enumerate((admitted or {}).items()):
            names[f"#a{i}"] = _CONN_ATTR + connection_id
            values[f":a{i}"] = {"N": str(expiry)}
            sets.append(f"#a{i} = :a{i}")
        gone = [_CONN_ATTR + cid for cid in closed if cid not in (admitted or {})]
        stale = [a for a in self._stale.get(pk, ()) if a != names["#n"]]
        removals = []
        for i, attribute in enumerate((gone + stale)[:_MAX_REMOVALS]):
            names[f"#r{i}"] = attribute
            removals.append(f"#r{i}")
        expression = "ADD #n :n SET " + ", ".join(sets)
        if removals:
            expression += " REMOVE " + ", ".join(removals)
        result = self._call(
            "update_item",
            Key={"pk": {"S": pk}, "sk": {"S": "CONNECT"}},
            UpdateExpression=expression,
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=values,
            ReturnValues="ALL_NEW",
        )
        item = result["Attributes"]
        if len(self._stale) > 4096:  # one Lambda instance sees many addresses a day
            self._stale.clear()
        self._stale[pk] = [
            a for a in item if a.startswith("n") and a[1:].isdigit() and a != names["#n"]
        ]
        return ClientRecord(
            connects=_n(item, names["#n"]),
            connections={
                a[len(_CONN_ATTR):]: int(v["N"]) for a, v in item.items()
                if a.startswith(_CONN_ATTR)
            },
        )

    def closed_connections(self, connection_ids: Collection[str], now: int) -> set[str]:
        ids = list(dict.fromkeys(connection_ids))
        open_ids: set[str] = set()
        for start in range(0, len(ids), _BATCH_GET):
            keys = [{"pk": {"S": f"CONN#{cid}"}, "sk": {"S": "CONN"}}
                    for cid in ids[start:start + _BATCH_GET]]
            request: dict[str, Any] = {self._table: {
                "Keys": keys, "ProjectionExpression": "pk, #ttl",
                "ExpressionAttributeNames": {"#ttl": "ttl"},
            }}
            for _attempt in range(4):
                self.calls += 1
                result = self._client.batch_get_item(RequestItems=request)
                for item in result.get("Responses", {}).get(self._table, []):
                    if _n(item, "ttl") >= now:
                        open_ids.add(_s(item, "pk")[len("CONN#"):])
                request = result.get("UnprocessedKeys") or {}
                if not request:
                    break
            else:
                # still throttled: count the unread ones as open (never admit past the cap
                # on a read we could not make)
                open_ids.update(_s(k, "pk")[len("CONN#"):] for k in request[self._table]["Keys"])
        return set(ids) - open_ids

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
