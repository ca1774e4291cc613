"""One way to acknowledge a cdk-nag finding, shared by every construct of the stack.

Callers look ``ack`` up on this module at call time (``nag.ack(...)``), so the
tests can record acknowledgements instead of applying them (tests/infra/test_nag.py).
"""

from __future__ import annotations

from aws_cdk import Acknowledgment, Stack, Token, Validations
from constructs import IConstruct


def ack(scope: IConstruct, rule: str, reason: str) -> None:
    """Acknowledge one cdk-nag finding on ``scope`` (and its children), with its reason."""
    Validations.of(scope).acknowledge(Acknowledgment(id=rule, reason=reason))


def pseudo_parameters(stack: Stack) -> tuple[str, str, str]:
    """(partition, region, account) as cdk-nag prints them in finding ids.

    Unknown values print as ``<AWS::Partition>`` and the like; values the CLI knows
    (``cdk synth`` with a profile or a default region) print literally.
    """
    partition, region, account = (
        f"<AWS::{pseudo}>" if Token.is_unresolved(value) else value
        for value, pseudo in (
            (stack.partition, "Partition"),
            (stack.region, "Region"),
            (stack.account, "AccountId"),
        )
    )
    return partition, region, account
