"""Context handling, and the stack as `make synth` builds it (cdk.json defaults, no TURN)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest

from infra.settings import StackSettings, context_keys
from infra.turnserver_conf import DEFAULT_MAX_BPS

from .conftest import Synth, cdk_json_context, cfn_lint_errors, synth


def settings_from(context: dict[str, Any]) -> StackSettings:
    app = cdk.App(context=context)
    return StackSettings.from_context(app.node)


def test_cli_strings_and_cdk_json_lists_read_the_same() -> None:
    from_cli = settings_from({"turnUrls": "turn:a:3478, turns:b:5349", "maxReceivers": "3"})
    from_json = settings_from({"turnUrls": ["turn:a:3478", "turns:b:5349"], "maxReceivers": 3})
    assert from_cli == from_json
    assert from_cli.turn_urls == ("turn:a:3478", "turns:b:5349")
    assert from_cli.max_receivers == 3 and from_cli.turn_enabled


def test_defaults_need_no_context() -> None:
    settings = settings_from({})
    assert settings == StackSettings()
    assert not settings.turn_enabled and settings.stun_urls == ()
    assert settings_from({"createApiGatewayLogRole": "false"}).create_api_gateway_log_role is False


def test_cdk_json_names_only_keys_the_stack_reads() -> None:
    ours = {k for k in cdk_json_context() if not k.startswith("@")}
    assert ours <= set(context_keys())


def test_cors_names_origins_never_a_wildcard() -> None:
    assert settings_from({}).cors_allowed_origins == ()  # the page's own origin only
    extra = settings_from({"corsAllowedOrigins": "https://a.example, https://b.example"})
    assert extra.cors_allowed_origins == ("https://a.example", "https://b.example")
    with pytest.raises(ValueError, match="corsAllowedOrigins"):
        settings_from({"corsAllowedOrigins": ["*"]})


def test_turn_choices_and_their_conflicts() -> None:
    assert settings_from({"turn": "coturn"}).turn_enabled
    assert settings_from({"turn": "coturn"}).coturn
    with pytest.raises(ValueError, match="turn must be one of"):
        settings_from({"turn": "stunnel"})
    with pytest.raises(ValueError, match="one or the other"):
        settings_from({"turn": "coturn", "turnUrls": "turn:a:3478"})


def test_the_turn_cap_reads_as_bytes_per_second_and_is_never_negative() -> None:
    assert settings_from({}).turn_max_bps == DEFAULT_MAX_BPS
    assert settings_from({"turnMaxBps": "0"}).turn_max_bps == 0  # coturn's "no cap"
    with pytest.raises(ValueError, match="turnMaxBps"):
        settings_from({"turnMaxBps": -1})


def test_a_custom_domain_needs_its_us_east_1_certificate() -> None:
    cert = "arn:aws:acm:us-east-1:123456789012:certificate/abc"
    ok = settings_from({"domainName": "send.example.net", "certificateArn": cert})
    assert ok.domain_name == "send.example.net"
    with pytest.raises(ValueError, match="go together"):
        settings_from({"domainName": "send.example.net"})
    with pytest.raises(ValueError, match="us-east-1"):
        settings_from({"domainName": "send.example.net",
                       "certificateArn": cert.replace("us-east-1", "eu-west-1")})


def test_cdk_json_ships_public_stun_servers_that_can_be_removed() -> None:
    shipped = settings_from(cdk_json_context())
    assert shipped.stun_urls and all(u.startswith("stun:") for u in shipped.stun_urls)
    assert settings_from({**cdk_json_context(), "stunUrls": ""}).stun_urls == ()


@pytest.fixture(scope="module")
def default_build(module_outdir: Path) -> Synth:
    # Also turns off the account-level log role, to prove the switch works.
    return synth(module_outdir, {"createApiGatewayLogRole": False})


def test_without_turn_there_is_no_secret_and_no_grant(default_build: Synth) -> None:
    template = default_build.json
    text = json.dumps(template)
    assert "ssm:GetParameter" not in text
    assert "TURN_SECRET_PARAMETER" not in text
    relay = [
        r
        for r in template["Resources"].values()
        if r["Type"] == "AWS::Lambda::Function"
        and r["Properties"]["Handler"] == "lambdas.relay.handler"
    ]
    variables = relay[0]["Properties"]["Environment"]["Variables"]
    assert variables["TURN_URLS"] == ""
    # cdk.json's public STUN servers reach the relay, which hands them to clients
    assert variables["STUN_URLS"] == ",".join(cdk_json_context()["stunUrls"])


def test_the_account_log_role_is_optional(default_build: Synth) -> None:
    default_build.template.resource_count_is("AWS::ApiGateway::Account", 0)


def test_cfn_lint_finds_no_errors(default_build: Synth) -> None:
    assert cfn_lint_errors(default_build.outdir) == []
