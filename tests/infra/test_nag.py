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

import infra.nag

from .conftest import cdk_json_context, synth

Ack = tuple[str, str, str]  # construct path, rule id, reason


#: The stack as cdk.json builds it, and with every optional part (coturn, alarms by
#: e-mail, a custom domain): each acknowledgement must match a finding in one of them.
BUILDS = {
    "default": {},
    # as `make synth` builds it on a machine with a default region configured
    "known-region": {"@test:region": "eu-west-2"},
    "full": {"turn": "coturn", "alarmEmail": "ops@example.net",
             "domainName": "send.example.net",
             "certificateArn": "arn:aws:acm:us-east-1:123456789012:certificate/abc"},
}


@pytest.fixture(scope="module", params=sorted(BUILDS))
def raw(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
        ) -> tuple[list[Ack], list[tuple[str, str]]]:
    """(acknowledgements the stack makes, findings without them) from one synthesis."""
    module_outdir = tmp_path_factory.mktemp(f"nag-{request.param}")
    acks: list[Ack] = []

    def record(scope: Construct, rule: str, reason: str) -> None:
        acks.append((scope.node.path, rule, reason))

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(infra.nag, "ack", record)
        with pytest.raises(RuntimeError, match="ValidationFailed"):
            context = dict(BUILDS[request.param])
            region = context.pop("@test:region", None)
            synth(module_outdir, context,
                  env=cdk.Environment(region=region) if region else None)
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
    request: pytest.FixtureRequest, raw: tuple[list[Ack], list[tuple[str, str]]],
) -> None:
    acks, _ = raw
    families = {rule.split("[")[0] for _, rule, _ in acks}
    build = request.node.callspec.params["raw"]
    if build == "full":
        assert families == {
            "AwsSolutions-DDB3", "AwsSolutions-S1", "AwsSolutions-L1", "AwsSolutions-APIG4",
            "AwsSolutions-IAM4", "AwsSolutions-IAM5", "AwsSolutions-CFR1", "AwsSolutions-CFR2",
            "AwsSolutions-CFR3",  # CFR4 is met: the own certificate allows TLSv1.2_2021
            "AwsSolutions-EC23",  # TURN ports open to the internet, by nature
            "AwsSolutions-EC29",  # one stateless instance, rebuilt from user data
            "AwsSolutions-SMG4",  # the client-hash secret needs no rotation (re-salted daily)
        }
        return
    assert families == {
        "AwsSolutions-DDB3",  # PITR off: ephemeral connection state
        "AwsSolutions-S1",  # no access logs on the fallback bucket: metadata minimisation
        "AwsSolutions-L1",  # python3.12 by choice
        "AwsSolutions-APIG4",  # capability-based connect, no authorizer
        "AwsSolutions-IAM4",  # API Gateway's account CloudWatch role
        "AwsSolutions-IAM5",  # grant-generated wildcards, each named
        "AwsSolutions-CFR1",  # no geo restriction: anyone may be sent a link
        "AwsSolutions-CFR2",  # no WAF in front of a few static files
        "AwsSolutions-CFR3",  # no CloudFront access logs: metadata minimisation
        "AwsSolutions-CFR4",  # cloudfront.net certificate (TLS policy fixed) without a domain
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
