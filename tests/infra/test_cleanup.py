"""Deletion at expiry by the backend (#15 §3): table TTL + stream -> the cleanup function.

Asserts the synthesised template: the stream, the filtered event source mapping, the
function and its least-privilege role (no object reads or writes, deletes confined
to the transfers prefix). cdk-nag runs in the synthesis, so an unacknowledged
finding of the new role fails here too.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from .conftest import Synth, synth
from .test_stack import of_type, only, refs, transfer_bucket_id


@pytest.fixture(scope="module")
def built(module_outdir: Path) -> Synth:
    return synth(module_outdir)


@pytest.fixture(scope="module")
def resources(built: Synth) -> dict[str, Any]:
    return built.json["Resources"]


def cleanup(resources: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    (found,) = [(k, v) for k, v in of_type(resources, "AWS::Lambda::Function").items()
                if k.startswith("CleanupFunction")]
    return found


def role_statements(resources: dict[str, Any], role_id: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for policy in of_type(resources, "AWS::IAM::Policy").values():
        if role_id in list(refs(policy["Properties"]["Roles"])):
            out += policy["Properties"]["PolicyDocument"]["Statement"]
    return out


def test_table_ttl_feeds_a_stream(resources: dict[str, Any]) -> None:
    _, table = only(resources, "AWS::DynamoDB::Table")
    props = table["Properties"]
    assert props["TimeToLiveSpecification"] == {"AttributeName": "ttl", "Enabled": True}
    assert props["StreamSpecification"] == {"StreamViewType": "OLD_IMAGE"}


def test_only_ttl_removals_of_live_transfer_items_invoke_the_cleanup(
        resources: dict[str, Any]) -> None:
    fn_id, fn = cleanup(resources)
    assert fn["Properties"]["Handler"] == "lambdas.cleanup.handler"
    table_id, _ = only(resources, "AWS::DynamoDB::Table")
    _, mapping = only(resources, "AWS::Lambda::EventSourceMapping")
    props = mapping["Properties"]
    assert list(refs(props["FunctionName"])) == [fn_id]
    assert props["EventSourceArn"] == {"Fn::GetAtt": [table_id, "StreamArn"]}
    assert props["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert props["MaximumRetryAttempts"] == 10 and props["BisectBatchOnFunctionError"] is True
    (pattern,) = [json.loads(f["Pattern"]) for f in props["FilterCriteria"]["Filters"]]
    assert pattern == {
        "eventName": ["REMOVE"],
        "userIdentity": {"type": ["Service"], "principalId": ["dynamodb.amazonaws.com"]},
        "dynamodb": {"Keys": {"sk": {"S": ["TRANSFER"]}},
                     "OldImage": {"closed": [{"exists": False}]}},
    }
    env = fn["Properties"]["Environment"]["Variables"]
    assert env["TABLE_NAME"] == {"Ref": table_id}
    assert env["BUCKET_NAME"] == {"Ref": transfer_bucket_id(resources)}


def test_the_cleanup_role_may_delete_under_transfers_and_nothing_more(
        resources: dict[str, Any]) -> None:
    _, fn = cleanup(resources)
    role_id = fn["Properties"]["Role"]["Fn::GetAtt"][0]
    assert "ManagedPolicyArns" not in resources[role_id]["Properties"]
    statements = role_statements(resources, role_id)
    actions: dict[str, list[Any]] = {}
    for s in statements:
        assert s["Effect"] == "Allow"
        for action in [s["Action"]] if isinstance(s["Action"], str) else s["Action"]:
            actions.setdefault(action, []).append(s)
    s3_actions = {a for a in actions if a.startswith("s3:")}
    assert s3_actions == {"s3:ListBucket", "s3:ListBucketMultipartUploads", "s3:DeleteObject",
                          "s3:AbortMultipartUpload"}, "no GetObject, no PutObject"
    (listing,) = actions["s3:ListBucket"]
    assert listing["Condition"] == {"StringLike": {"s3:prefix": ["transfers/*"]}}
    bucket_id = transfer_bucket_id(resources)
    for action in ("s3:DeleteObject", "s3:AbortMultipartUpload"):
        (statement,) = actions[action]
        assert statement["Resource"] == {
            "Fn::Join": ["", [{"Fn::GetAtt": [bucket_id, "Arn"]}, "/transfers/*"]]}
    ddb = {a for a in actions if a.startswith("dynamodb:")}
    assert ddb == {"dynamodb:UpdateItem", "dynamodb:DescribeStream", "dynamodb:GetRecords",
                   "dynamodb:GetShardIterator", "dynamodb:ListStreams"}
    assert not {a for a in actions if a.startswith("execute-api:")}, "no @connections"
