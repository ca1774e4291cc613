"""Settings from the environment (names from docs/contracts.md) and the devstack CLI hook."""

from __future__ import annotations

import argparse

import pytest

from devstack.cli import register
from lambdas.signalling.settings import Settings, SettingsError


def test_defaults_follow_the_contract():
    s = Settings.from_env({"TABLE_NAME": "t"})
    assert (s.room_index_name, s.max_receivers, s.connection_ttl_seconds) == ("room-index", 1, 7200)
    assert (s.message_rate_per_minute, s.connect_rate_per_minute) == (600, 60)
    assert (s.turn_credential_ttl_seconds, s.bucket_name, s.management_endpoint_url) == (
        3600,
        None,
        None,
    )
    assert s.service_name == s.metrics_namespace == "sgraph-send"


def test_values_are_parsed_and_ttl_capped_at_two_hours():
    s = Settings.from_env(
        {
            "TABLE_NAME": "t",
            "MAX_RECEIVERS": "3",
            "CONNECTION_TTL_SECONDS": "99999",
            "STUN_URLS": "stun:a:3478, stun:b:3478",
            "TURN_URLS": "turns:t:5349",
            "MANAGEMENT_ENDPOINT_URL": "http://127.0.0.1:1/local",
        }
    )
    assert s.max_receivers == 3 and s.connection_ttl_seconds == 7200
    assert s.stun_urls == ("stun:a:3478", "stun:b:3478") and s.turn_urls == ("turns:t:5349",)
    assert s.management_endpoint_url == "http://127.0.0.1:1/local"


@pytest.mark.parametrize(
    "env",
    [
        {},
        {"TABLE_NAME": "t", "MAX_RECEIVERS": "zero"},
        {"TABLE_NAME": "t", "MAX_RECEIVERS": "0"},
        {"TABLE_NAME": "t", "STUN_URLS": "http://x"},
        {"TABLE_NAME": "t", "TURN_URLS": "stun:x"},
    ],
)
def test_misconfiguration_is_refused(env):
    with pytest.raises(SettingsError):
        Settings.from_env(env)


def test_cli_registers_a_devstack_subcommand():
    parser = argparse.ArgumentParser(prog="sgraph-send")
    register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["devstack", "--json", "--env", "MAX_RECEIVERS=2", "--port", "0"])
    assert args.command == "devstack" and args.json and args.env == ["MAX_RECEIVERS=2"]
    assert callable(args.func)
