"""cdk-nag AwsSolutions: every finding is acknowledged, and every acknowledgement is needed.

tests/infra/test_stack.py already synthesises with the checks on (any unacknowledged
finding fails it). Here the stack is synthesised once with the acknowledgements
recorded instead of applied, so the raw findings can be matched against them one
to one: an acknowledgement that matches no finding is stale or too broad.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import aws_s3 as s3
from cdk_nag import AwsSolutionsChecks
from constructs import Construct

import infra.stack

from .conftest import cdk_json_context, synth

Ack = tuple[str, str, str]  # construct path, rule id, reason


@pytest.fixture(scope="module")
def raw(module_outdir: Path) -> tuple[list[Ack], list[tuple[str, str]]]:
    """(acknowledgements the stack makes, findings without them) from one synthesis."""
    acks: list[Ack] = []

    def record(scope: Construct, rule: str, reason: str) -> None:
        acks.append((scope.node.path, rule, reason))

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(infra.stack, "_ack", record)
        with pytest.raises(RuntimeError, match="ValidationFailed"):
            synth(module_outdir)
    report = json.loads((module_outdir / "validation-report.json").read_text())
    findings = [
        (construct["constructPath"], violation["ruleName"])
        for plugin in report["pluginReports"]
        for violation in plugin["violations"]
        for construct in violation["violatingConstructs"]
    ]
    return acks, findings


def covers(ack: Ack, finding: tuple[str, str]) -> bool:
    path, rule, _ = ack
    finding_path, finding_rule = finding
    return rule == finding_rule and (finding_path == path or finding_path.startswith(path + "/"))


def test_every_finding_is_acknowledged(raw: tuple[list[Ack], list[tuple[str, str]]]) -> None:
    acks, findings = raw
    assert findings, "the checks found nothing at all: are they running?"
    missing = [f for f in findings if not any(covers(a, f) for a in acks)]
    assert not missing


def test_every_acknowledgement_matches_a_finding(
    raw: tuple[list[Ack], list[tuple[str, str]]],
) -> None:
    acks, findings = raw
    stale = [a[:2] for a in acks if not any(covers(a, f) for f in findings)]
    assert not stale


def test_acknowledgements_are_specific(raw: tuple[list[Ack], list[tuple[str, str]]]) -> None:
    acks, _ = raw
    for path, rule, reason in acks:
        assert path.startswith("SGraphSend/"), f"{rule} acknowledged on the whole app or stack"
        assert path != "SGraphSend", f"{rule} acknowledged on the whole stack"
        assert len(reason) >= 80, f"{rule} on {path}: say why, specifically"


def test_acknowledged_rules_are_the_expected_ones(
    raw: tuple[list[Ack], list[tuple[str, str]]],
) -> None:
    acks, _ = raw
    families = {rule.split("[")[0] for _, rule, _ in acks}
    assert families == {
        "AwsSolutions-DDB3",  # PITR off: ephemeral connection state
        "AwsSolutions-S1",  # no access logs on the fallback bucket: metadata minimisation
        "AwsSolutions-L1",  # python3.12 by choice
        "AwsSolutions-APIG4",  # capability-based connect, no authorizer
        "AwsSolutions-IAM4",  # API Gateway's account CloudWatch role
        "AwsSolutions-IAM5",  # grant-generated wildcards, each named
        "AwsSolutions-SMG4",  # the client-hash secret needs no rotation (re-salted daily)
    }


def test_the_checks_do_fail_an_unacknowledged_stack(tmp_path: Path) -> None:
    """Control: the same plugin set-up rejects a bucket without logging or SSL enforcement."""
    app = cdk.App(context=cdk_json_context(), outdir=str(tmp_path))
    stack = cdk.Stack(app, "Control")
    s3.Bucket(stack, "Plain")
    cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    with pytest.raises(RuntimeError, match="ValidationFailed"):
        app.synth()
    report: dict[str, Any] = json.loads((tmp_path / "validation-report.json").read_text())
    rules = {v["ruleName"] for p in report["pluginReports"] for v in p["violations"]}
    assert {"AwsSolutions-S1", "AwsSolutions-S10"} <= rules
