"""The local stack's DynamoDB applies each write to an item atomically, as DynamoDB does.

The relay counts with `ADD` (a transfer's downloads, a nameplate's claims) and claims
with conditional writes (a room's slots). moto's server answers each request on a
thread of its own and reads, copies and writes an item back unguarded: many threads
updating one item lost increments and, now and then, failed with a 500 ("dictionary
changed size during iteration"). devstack/moto_backend.py answers one DynamoDB call at
a time; these tests hit one item from many threads at once, on real connections.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from devstack.moto_backend import CREDENTIALS, REGION, MotoBackend

TABLE = "atomic"
KEY = {"pk": {"S": "ROOM#r"}, "sk": {"S": "SLOT#s"}}
THREADS = 8


@pytest.fixture(scope="module")
def server() -> Iterator[MotoBackend]:
    backend = MotoBackend(TABLE, "unused-bucket")
    backend.start()
    try:
        yield backend
    finally:
        backend.stop()


def _at_once(server: MotoBackend, work: Callable[[Any, int], None]) -> list[BaseException]:
    """Run `work(client, thread)` on THREADS threads released together, a client
    each (no retries: a 500 must show); the errors they raised."""
    clients = [boto3.client("dynamodb", endpoint_url=server.endpoint_url, region_name=REGION,
                            config=Config(retries={"max_attempts": 1}), **CREDENTIALS)
               for _ in range(THREADS)]
    start = threading.Barrier(THREADS)
    errors: list[BaseException] = []

    def run(n: int) -> None:
        start.wait()
        try:
            work(clients[n], n)
        except BaseException as e:  # noqa: BLE001 - handed to the test
            errors.append(e)

    threads = [threading.Thread(target=run, args=(n,)) for n in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return errors


def test_concurrent_adds_to_one_item_are_all_counted(server):
    per_thread = 100

    def add(ddb: Any, _n: int) -> None:
        for _ in range(per_thread):
            ddb.update_item(TableName=TABLE, Key=KEY, UpdateExpression="ADD n :one",
                            ExpressionAttributeValues={":one": {"N": "1"}})

    assert _at_once(server, add) == []
    item = server.client("dynamodb").get_item(TableName=TABLE, Key=KEY, ConsistentRead=True)
    assert item["Item"]["n"] == {"N": str(THREADS * per_thread)}


def test_concurrent_updates_that_add_and_remove_attributes_all_succeed(server):
    def churn(ddb: Any, n: int) -> None:
        for i in range(50):
            ddb.update_item(TableName=TABLE, Key=KEY, UpdateExpression=f"SET a{n}_{i % 10} = :v",
                            ExpressionAttributeValues={":v": {"S": "x"}})
            ddb.update_item(TableName=TABLE, Key=KEY,
                            UpdateExpression=f"REMOVE a{n}_{(i + 3) % 10}")

    errors = _at_once(server, churn)
    assert errors == [], errors[:3]


def test_one_conditional_claim_of_many_wins(server):
    rounds = 40
    winners: list[list[int]] = [[] for _ in range(rounds)]

    def claim(ddb: Any, n: int) -> None:
        for r in range(rounds):
            try:
                ddb.put_item(TableName=TABLE, Item={"pk": {"S": f"ROOM#claim{r}"},
                                                    "sk": {"S": "SLOT#sender"},
                                                    "by": {"N": str(n)}},
                             ConditionExpression="attribute_not_exists(pk)")
                winners[r].append(n)
            except ClientError as e:
                if e.response["Error"]["Code"] != "ConditionalCheckFailedException":
                    raise

    assert _at_once(server, claim) == []
    assert [len(w) for w in winners] == [1] * rounds
