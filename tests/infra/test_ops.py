"""The stack with every optional part: coturn, alarms by e-mail, a custom domain.

One synthesis (cdk-nag on) for the module; cfn-lint runs on its template.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from infra.coturn import RELAY_PORTS, TURN_PORT, TURNS_PORT, UBUNTU_AMI_PARAMETER
from infra.turnserver_conf import denied_peer_ranges

from .conftest import Synth, cfn_lint_errors, synth
from .test_stack import function_ids, joined, of_type, only, refs

CERT = "arn:aws:acm:us-east-1:123456789012:certificate/abc"
CONTEXT = {
    "turn": "coturn",
    "turnSecretParameter": "/sgraph-send/test/turn-secret",
    "alarmEmail": "ops@example.net",
    "domainName": "send.example.net",
    "certificateArn": CERT,
    "corsAllowedOrigins": "https://other.example.net",
    "turnMaxBps": "250000000",
}


@pytest.fixture(scope="module")
def full(module_outdir: Path) -> Synth:
    return synth(module_outdir, CONTEXT)


@pytest.fixture(scope="module")
def resources(full: Synth) -> dict[str, Any]:
    return full.json["Resources"]


def test_cfn_lint_finds_no_errors(full: Synth) -> None:
    assert cfn_lint_errors(full.outdir) == []


# ----------------------------------------------------------------------- coturn


def test_coturn_runs_on_graviton_with_imdsv2_encrypted_disk_and_no_ssh(
    full: Synth, resources: dict[str, Any]
) -> None:
    _, instance = only(resources, "AWS::EC2::Instance")
    props = instance["Properties"]
    assert props["InstanceType"] == "t4g.small"
    assert "KeyName" not in props
    (volume,) = props["BlockDeviceMappings"]
    assert volume["Ebs"]["Encrypted"] is True
    (image_param,) = refs(props["ImageId"])
    assert full.json["Parameters"][image_param]["Default"] == UBUNTU_AMI_PARAMETER
    (template,) = of_type(resources, "AWS::EC2::LaunchTemplate").values()
    options = template["Properties"]["LaunchTemplateData"]["MetadataOptions"]
    assert options["HttpTokens"] == "required"
    # Session Manager is the way in
    (profile,) = of_type(resources, "AWS::IAM::InstanceProfile").values()
    (role_id,) = refs(profile["Properties"]["Roles"])
    managed = json.dumps(resources[role_id]["Properties"]["ManagedPolicyArns"])
    assert "AmazonSSMManagedInstanceCore" in managed


def test_coturn_opens_only_the_turn_ports(resources: dict[str, Any]) -> None:
    _, group = only(resources, "AWS::EC2::SecurityGroup")
    rules = {(r["IpProtocol"], r["FromPort"], r["ToPort"])
             for r in group["Properties"]["SecurityGroupIngress"]}
    assert rules == {("udp", TURN_PORT, TURN_PORT), ("tcp", TURN_PORT, TURN_PORT),
                     ("tcp", TURNS_PORT, TURNS_PORT), ("udp", *RELAY_PORTS)}
    assert 22 not in {port for _, port, _ in rules}


def test_coturn_user_data_is_the_rendered_production_config(resources: dict[str, Any]) -> None:
    _, instance = only(resources, "AWS::EC2::Instance")
    script = joined(instance["Properties"]["UserData"]["Fn::Base64"])
    config = script.split("<<'SGRAPH_TURN_CONF'\n", 1)[1].split("\nSGRAPH_TURN_CONF", 1)[0]
    lines = config.splitlines()
    eip = only(resources, "AWS::EC2::EIP")[0]
    assert f"external-ip=<{eip}.PublicIp>/@PRIVATE_IP@" in lines
    assert "static-auth-secret=@TURN_SECRET@" in lines  # filled from SSM at boot
    assert [f"denied-peer-ip={r}" for r in denied_peer_ranges()] == [
        line for line in lines if line.startswith("denied-peer-ip=")]
    assert "allow-loopback-peers" not in lines
    assert f"tls-listening-port={TURNS_PORT}" in lines and "user-quota=12" in lines
    assert "max-bps=250000000" in lines  # turnMaxBps reaches the instance
    assert "ssm get-parameter" in script and "/sgraph-send/test/turn-secret" in script
    assert "--with-decryption" in script


def test_the_relay_offers_coturn_and_may_read_its_secret(resources: dict[str, Any]) -> None:
    relay = resources[function_ids(resources)["Relay"]]["Properties"]["Environment"]
    eip = only(resources, "AWS::EC2::EIP")[0]
    assert joined(relay["Variables"]["TURN_URLS"]) == (
        f"turn:<{eip}.PublicIp>:3478?transport=udp,turn:<{eip}.PublicIp>:3478?transport=tcp")
    assert relay["Variables"]["TURN_SECRET_PARAMETER"] == "/sgraph-send/test/turn-secret"
    readers = [p for p in of_type(resources, "AWS::IAM::Policy").values()
               if "ssm:GetParameter" in json.dumps(p)]
    assert len(readers) == 2  # the relay and the instance, nobody else
    for policy in readers:
        assert "parameter/sgraph-send/test/turn-secret" in json.dumps(policy)


def test_the_elastic_ip_is_attached_to_the_instance(resources: dict[str, Any]) -> None:
    _, association = only(resources, "AWS::EC2::EIPAssociation")
    instance = only(resources, "AWS::EC2::Instance")[0]
    eip = only(resources, "AWS::EC2::EIP")[0]
    assert set(refs(association["Properties"])) == {instance, eip}


# ------------------------------------------------------------------- operations


def alarms(resources: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return of_type(resources, "AWS::CloudWatch::Alarm")


def test_alarms_cover_functions_api_table_and_turn(resources: dict[str, Any]) -> None:
    found = alarms(resources)
    names = {m["Properties"].get("MetricName") for m in found.values()}
    assert {"Errors", "Throttles", "ExecutionError", "IntegrationError", "ClientError",
            "StatusCheckFailed"} <= names
    # connect, disconnect, relay, and the cleanup of expired transfers
    assert sum(1 for a in found.values() if a["Properties"].get("MetricName") == "Errors") == 4
    math = [a for a in found.values() if "Metrics" in a["Properties"]]
    assert any("ReadThrottleEvents" in json.dumps(a) and "WriteThrottleEvents" in json.dumps(a)
               for a in math)


def test_alarm_email_gets_every_alarm(resources: dict[str, Any]) -> None:
    topic_id, topic = only(resources, "AWS::SNS::Topic")
    _, subscription = only(resources, "AWS::SNS::Subscription")
    assert subscription["Properties"]["Protocol"] == "email"
    assert subscription["Properties"]["Endpoint"] == "ops@example.net"
    for alarm in alarms(resources).values():
        assert alarm["Properties"]["AlarmActions"] == [{"Ref": topic_id}]


def test_a_dashboard_shows_the_service(resources: dict[str, Any]) -> None:
    _, dashboard = only(resources, "AWS::CloudWatch::Dashboard")
    body = joined(dashboard["Properties"]["DashboardBody"])
    for metric in ("ConnectCount", "MessageCount", "Throttles", "ConcurrentExecutions",
                   "ConsumedWriteCapacityUnits"):
        assert metric in body


# ---------------------------------------------------------------- custom domain


def test_custom_domain_uses_its_certificate_and_tls_1_2(
    full: Synth, resources: dict[str, Any]
) -> None:
    _, distribution = only(resources, "AWS::CloudFront::Distribution")
    config = distribution["Properties"]["DistributionConfig"]
    assert config["Aliases"] == ["send.example.net"]
    assert config["ViewerCertificate"] == {
        "AcmCertificateArn": CERT, "MinimumProtocolVersion": "TLSv1.2_2021",
        "SslSupportMethod": "sni-only",
    }
    assert joined(full.json["Outputs"]["WebUrl"]["Value"]) == "https://send.example.net/"


def test_cors_names_the_custom_domain_and_the_extra_origin(resources: dict[str, Any]) -> None:
    (cors,) = of_type(resources, "Custom::AWS").values()
    text = joined(cors["Properties"]["Create"])
    origins = re.search(r'"AllowedOrigins":(\[[^\]]*\])', text)
    assert origins is not None
    assert json.loads(origins.group(1)) == ["https://send.example.net",
                                            "https://other.example.net"]
