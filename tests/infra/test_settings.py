"""Context handling, and the stack as `make synth` builds it (cdk.json defaults, no TURN)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest

from infra.settings import StackSettings, context_keys

from .conftest import Synth, cdk_json_context, synth


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


def test_empty_cors_origins_are_refused() -> None:
    with pytest.raises(ValueError, match="corsAllowedOrigins"):
        settings_from({"corsAllowedOrigins": []})


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
    assert variables["TURN_URLS"] == "" and variables["STUN_URLS"] == ""


def test_the_account_log_role_is_optional(default_build: Synth) -> None:
    default_build.template.resource_count_is("AWS::ApiGateway::Account", 0)
