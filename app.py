#!/usr/bin/env python3
"""CDK entry point: `make synth` / `make deploy` run this through the local `cdk` CLI."""

from __future__ import annotations

import os

import aws_cdk as cdk
from cdk_nag import AwsSolutionsChecks

from infra.stack import SendStack

app = cdk.App()
SendStack(
    app,
    "SGraphSend",
    description="SGraph Send: zero-knowledge file transfer (signalling relay, S3 fallback)",
    # Environment-agnostic unless the CLI knows the account (deploy with a profile does).
    env=cdk.Environment(
        account=os.environ.get("CDK_DEFAULT_ACCOUNT"),
        region=os.environ.get("CDK_DEFAULT_REGION"),
    ),
)
# Every AwsSolutions finding fails the synth unless acknowledged with a reason in infra/.
cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app))
app.synth()
