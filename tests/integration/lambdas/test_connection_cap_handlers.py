"""The open-connection cap through the real handlers and the DynamoDB adapter (moto)."""

from __future__ import annotations

import json

import boto3
import pytest
from moto import mock_aws

from devstack.moto_backend import create_table
from lambdas.signalling.dynamo import DynamoRepository

from .conftest import REGION, TABLE

CAP = 3
OFFICE = "203.0.113.50"


@pytest.fixture
def capped(monkeypatch: pytest.MonkeyPatch) -> None:
    """Requested before `stack`, so the handlers load with a cap of 3."""
    monkeypatch.setenv("MAX_CONNECTIONS_PER_ADDRESS", str(CAP))


def test_the_n_plus_first_is_refused_until_one_closes(capped, stack):
    for n in range(CAP):
        assert stack.connect(f"C{n}=", bytes([n]) * 32, "sender", ip=OFFICE)["statusCode"] == 200
    refused = stack.connect("C3=", bytes([3]) * 32, "sender", ip=OFFICE)
    assert refused["statusCode"] == 429
    body = json.loads(refused["body"])
    assert body["code"] == "rate-limited" and f"{CAP} connections" in body["message"]
    assert stack.connect("D=", bytes([9]) * 32, "sender", ip="198.51.100.4")["statusCode"] == 200
    stack.disconnect("C1=")
    assert stack.connect("C4=", bytes([4]) * 32, "sender", ip=OFFICE)["statusCode"] == 200
    assert stack.connect("C5=", bytes([5]) * 32, "sender", ip=OFFICE)["statusCode"] == 429

    # The address's record: its hash, the minute's attempts and the connections
    # admitted (C1 found closed and forgotten; the refused C5 is forgotten by the
    # record's next write); never the address itself.
    records = [i for i in stack.items() if i["pk"]["S"].startswith("RATE#")]
    assert OFFICE not in json.dumps(stack.items())
    office = next(r for r in records if "c:C0=" in r)
    assert office["sk"]["S"] == "CONNECT"
    assert sorted(a for a in office if a.startswith("c:")) == ["c:C0=", "c:C2=", "c:C4=", "c:C5="]
    assert stack.connect("C6=", bytes([6]) * 32, "sender", ip=OFFICE)["statusCode"] == 429
    office = next(r for r in stack.items() if "c:C0=" in r)
    assert sorted(a for a in office if a.startswith("c:")) == ["c:C0=", "c:C2=", "c:C4=", "c:C6="]


def test_the_record_write_drops_earlier_minutes_and_closed_ids():
    with mock_aws():
        ddb = boto3.client("dynamodb", region_name=REGION)
        create_table(ddb, TABLE)
        repo = DynamoRepository(ddb, TABLE)
        first = repo.count_connect("h" * 32, 100, 2, 9_999, {"A=": 5_000, "B=": 5_000})
        assert (first.connects, first.connections) == (2, {"A=": 5_000, "B=": 5_000})
        second = repo.count_connect("h" * 32, 101, 1, 9_999, {"C=": 5_060}, closed={"A="})
        assert (second.connects, second.connections) == (1, {"B=": 5_000, "C=": 5_060})
        repo.count_connect("h" * 32, 101, 1, 9_999)  # the write after sees n100 and drops it
        item = ddb.get_item(TableName=TABLE, Key={"pk": {"S": "RATE#" + "h" * 32},
                                                  "sk": {"S": "CONNECT"}})["Item"]
        assert sorted(a for a in item if a.startswith("n")) == ["n101"]
        assert item["n101"] == {"N": "2"} and item["ttl"] == {"N": "9999"}

        # which recorded connections are closed: no connection item, or an expired one
        for cid, ttl in (("B=", 6_000), ("C=", 4_000)):
            ddb.put_item(TableName=TABLE, Item={"pk": {"S": f"CONN#{cid}"}, "sk": {"S": "CONN"},
                                                "ttl": {"N": str(ttl)}})
        assert repo.closed_connections(["B=", "C=", "Z="], 5_000) == {"C=", "Z="}
        many = [f"X{n}=" for n in range(150)]  # over BatchGetItem's 100 keys
        assert repo.closed_connections([*many, "B="], 5_000) == set(many)
