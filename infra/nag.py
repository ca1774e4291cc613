"""One way to acknowledge a cdk-nag finding, shared by every construct of the stack.

Callers look ``ack`` up on this module at call time (``nag.ack(...)``), so the
tests can record acknowledgements instead of applying them (tests/infra/test_nag.py).
"""

from __future__ import annotations

from aws_cdk import Acknowledgment, Validations
from constructs import Construct


def ack(scope: Construct, rule: str, reason: str) -> None:
    """Acknowledge one cdk-nag finding on ``scope`` (and its children), with its reason."""
    Validations.of(scope).acknowledge(Acknowledgment(id=rule, reason=reason))
