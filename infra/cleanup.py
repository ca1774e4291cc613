"""Deletion at expiry, by the backend itself: the table's stream -> the cleanup function.

A stored transfer's item in the table (lambdas/signalling/transfers.py) carries
its expiry as the table's TTL attribute. DynamoDB's TTL deletes it at expiry;
the table's stream (OLD_IMAGE) delivers that deletion, and an event source
mapping, filtered to exactly those records (a TTL `REMOVE` of a live `TRANSFER`
item), invokes the cleanup function, which deletes the objects under
`transfers/<room id>/` and aborts unfinished multipart uploads. The bucket's
lifecycle rule stays as the last resort (for records the function could not
handle within its retries).

Least privilege: the function reads the stream, updates items (to mark a transfer
closed), and may list, delete and abort under the transfers prefix only; it can
read no object and write none.
"""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as event_sources
from aws_cdk import aws_s3 as s3

from . import nag

#: Only a TTL deletion (the DynamoDB service, not a request) of a transfer item that was
#: still live; a closed item's reason ageing out needs no work. lambdas/signalling/cleanup.py
#: checks the same, so the local stack (no filters) behaves alike.
TTL_REMOVALS = {
    "eventName": lambda_.FilterRule.is_equal("REMOVE"),
    "userIdentity": {
        "type": lambda_.FilterRule.is_equal("Service"),
        "principalId": lambda_.FilterRule.is_equal("dynamodb.amazonaws.com"),
    },
    "dynamodb": {
        "Keys": {"sk": {"S": lambda_.FilterRule.is_equal("TRANSFER")}},
        "OldImage": {"closed": lambda_.FilterRule.not_exists()},
    },
}


def wire_cleanup(fn: lambda_.Function, role: iam.Role, table: dynamodb.Table,
                 bucket: s3.Bucket, prefix: str, table_id: str, bucket_id: str) -> None:
    """Feed the table's TTL removals to `fn` and give it exactly what the cleanup needs."""
    fn.add_event_source(event_sources.DynamoEventSource(
        table,
        starting_position=lambda_.StartingPosition.TRIM_HORIZON,
        filters=[lambda_.FilterCriteria.filter(TTL_REMOVALS)],
        batch_size=10,
        # a failing record is retried alone (partial batch response), a bounded number
        # of times; the bucket's lifecycle rule deletes whatever is left after that
        report_batch_item_failures=True,
        bisect_batch_on_error=True,
        retry_attempts=10,
        max_record_age=Duration.days(1),
    ))
    table.grant(fn, "dynamodb:UpdateItem")  # write the item back as closed (`expired`)
    fn.add_to_role_policy(iam.PolicyStatement(
        actions=["s3:ListBucket"], resources=[bucket.bucket_arn],
        conditions={"StringLike": {"s3:prefix": [f"{prefix}*"]}},
    ))
    fn.add_to_role_policy(iam.PolicyStatement(
        # lists uploads by key prefix; this action takes no s3:prefix condition
        actions=["s3:ListBucketMultipartUploads"], resources=[bucket.bucket_arn],
    ))
    fn.add_to_role_policy(iam.PolicyStatement(
        actions=["s3:DeleteObject", "s3:AbortMultipartUpload"],
        resources=[bucket.arn_for_objects(f"{prefix}*")],
    ))
    nag.ack(
        role, "AwsSolutions-IAM5[Resource::*]",
        "Two actions only: xray:PutTraceSegments/PutTelemetryRecords (active tracing) and "
        "dynamodb:ListStreams (added by the stream event source); neither supports "
        "resource-level permissions.",
    )
    nag.ack(
        role, f"AwsSolutions-IAM5[Resource::<{table_id}.Arn>/index/*]",
        "From table.grant(UpdateItem): CDK adds the table's own indexes; the function "
        "updates transfer items of this one table and never touches an index.",
    )
    nag.ack(
        role, f"AwsSolutions-IAM5[Resource::<{bucket_id}.Arn>/{prefix}*]",
        f"Object keys are made per transfer at run time; DeleteObject and "
        f"AbortMultipartUpload are confined to the {prefix} prefix of this one bucket.",
    )
