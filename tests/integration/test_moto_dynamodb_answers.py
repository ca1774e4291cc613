"""The local stack's moto (devstack/moto_backend.py: attribute values already in their wire
form are written as they are, DynamoDB calls answered on a kept connection, a Query on the
table's key answered from its partition alone) answers DynamoDB
calls as moto itself does: the same items, attributes and errors, for every attribute type,
as unpatched moto in this process (`mock_aws`)."""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from devstack.moto_backend import CREDENTIALS, REGION, MotoBackend, create_table

TABLE = "answers"
ITEM: dict[str, Any] = {
    "pk": {"S": "ROOM#r"}, "sk": {"S": "SLOT#s"},
    "s": {"S": "é \u2603 \"quoted\""}, "empty": {"S": ""},
    "n": {"N": "12345678901234567890"}, "neg": {"N": "-0.5"},
    "yes": {"BOOL": True}, "no": {"BOOL": False}, "null": {"NULL": True},
    "b": {"B": b"\x00\xffbytes"}, "ss": {"SS": ["a", "b"]}, "ns": {"NS": ["1", "2.5"]},
    "bs": {"BS": [b"\x01", b"\x02"]},
    "m": {"M": {"in": {"S": "x"}, "deep": {"M": {"n": {"N": "3"}, "b": {"B": b"\x07"}}}}},
    "l": {"L": [{"S": "x"}, {"N": "1"}, {"L": [{"BOOL": True}]}, {"B": b"\x09"}]},
}


def _observe(ddb: Any) -> Iterator[tuple[str, Any]]:
    create_table(ddb, TABLE)
    ddb.put_item(TableName=TABLE, Item=ITEM)
    ddb.put_item(TableName=TABLE, Item={"pk": {"S": "ROOM#r"}, "sk": {"S": "SLOT#t"},
                                        "n": {"N": "1"}})
    key = {"pk": ITEM["pk"], "sk": ITEM["sk"]}
    yield "get", ddb.get_item(TableName=TABLE, Key=key, ConsistentRead=True)["Item"]
    yield "projected", ddb.get_item(
        TableName=TABLE, Key=key, ProjectionExpression="m.deep, l[2], #n",
        ExpressionAttributeNames={"#n": "n"})["Item"]
    query = ddb.query(TableName=TABLE, KeyConditionExpression="pk = :pk AND begins_with(sk, :s)",
                      ExpressionAttributeValues={":pk": {"S": "ROOM#r"}, ":s": {"S": "SLOT#"}},
                      ConsistentRead=True)
    yield "query", (query["Items"], query["Count"], query["ScannedCount"])
    # other partitions, and the index: a Query on the table's key reads its partition alone
    for pk, sk in (("ROOM#a", "SLOT#x"), ("ROOM#z", "SLOT#y"), ("ROOM#r", "SLOT#a")):
        ddb.put_item(TableName=TABLE, Item={"pk": {"S": pk}, "sk": {"S": sk},
                                            "room_id": {"S": pk[5:]}})
    pages = []
    start: dict[str, Any] = {}
    while True:
        found = ddb.query(TableName=TABLE, KeyConditionExpression="pk = :pk", Limit=1,
                          ScanIndexForward=False, ConsistentRead=True,
                          ExpressionAttributeValues={":pk": {"S": "ROOM#r"}}, **start)
        pages.append(found["Items"])
        if "LastEvaluatedKey" not in found:
            break
        start = {"ExclusiveStartKey": found["LastEvaluatedKey"]}
    yield "query pages", pages
    yield "query empty", ddb.query(TableName=TABLE, KeyConditionExpression="pk = :pk",
                                   ExpressionAttributeValues={":pk": {"S": "ROOM#none"}})["Items"]
    yield "query index", ddb.query(TableName=TABLE, IndexName="room-index",
                                   KeyConditionExpression="room_id = :r",
                                   ExpressionAttributeValues={":r": {"S": "z"}})["Items"]
    yield "update", ddb.update_item(
        TableName=TABLE, Key=key, UpdateExpression="ADD n :one SET m.added = :l",
        ExpressionAttributeValues={":one": {"N": "1"}, ":l": {"L": [{"S": "y"}]}},
        ReturnValues="ALL_NEW")["Attributes"]
    with pytest.raises(ClientError) as refused:
        ddb.put_item(TableName=TABLE, Item=ITEM, ConditionExpression="attribute_not_exists(pk)",
                     ReturnValuesOnConditionCheckFailure="ALL_OLD")
    yield "refused", (refused.value.response["Error"]["Code"], refused.value.response["Item"])
    yield "deleted", ddb.delete_item(TableName=TABLE, Key=key, ReturnValues="ALL_OLD")[
        "Attributes"]


def _plain(value: Any) -> Any:
    """Decimals are compared by value (boto3 parses numbers the same way in both)."""
    return str(value) if isinstance(value, Decimal) else value


def test_the_local_stack_moto_answers_dynamodb_as_moto_does():
    server = MotoBackend("unused-table", "unused-bucket")
    server.start()
    try:
        patched = dict(_observe(server.client("dynamodb")))
        kept = _two_calls_on_one_connection(server.endpoint_url)
    finally:
        server.stop()
    with mock_aws():
        plain = dict(_observe(boto3.client("dynamodb", region_name=REGION, **CREDENTIALS)))
    assert patched["get"] == ITEM
    assert patched["update"]["n"] == {"N": "12345678901234567891"}
    assert [[item["sk"]["S"] for item in page] for page in patched["query pages"]] == [
        ["SLOT#t"], ["SLOT#s"], ["SLOT#a"]]
    assert [item["pk"]["S"] for item in patched["query index"]] == ["ROOM#z"]
    assert patched == plain
    assert kept == [(200, False, ["answers", "unused-table"])] * 2


def _two_calls_on_one_connection(endpoint_url: str) -> list[tuple[int, bool, Any]]:
    """Two ListTables calls on one HTTP/1.1 connection: each answered, neither closing it."""
    host, port = endpoint_url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=30)
    answers = []
    sock = None
    for _ in range(2):
        conn.request("POST", "/", body=b"{}", headers={
            "X-Amz-Target": "DynamoDB_20120810.ListTables",
            "Content-Type": "application/x-amz-json-1.0",
            "Authorization": "AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/dynamodb/"
                             "aws4_request, SignedHeaders=host, Signature=0",
        })
        response = conn.getresponse()
        body = json.loads(response.read())
        assert sock is None or conn.sock is sock  # the same socket carried both
        sock = conn.sock
        answers.append((response.status, response.will_close, sorted(body["TableNames"])))
    conn.close()
    return answers
