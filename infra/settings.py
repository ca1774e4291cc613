"""Deploy-time settings, read once from CDK context (``cdk.json`` or ``-c key=value``)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import Any

from constructs import Node

from .turnserver_conf import DEFAULT_MAX_BPS


def _urls(value: Any) -> tuple[str, ...]:
    """A list from cdk.json, or a comma-separated string from ``-c``."""
    if value is None or value == "":
        return ()
    items = value.split(",") if isinstance(value, str) else list(value)
    return tuple(str(item).strip() for item in items if str(item).strip())


def _bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in {"1", "true", "yes", "on"}


@dataclass(frozen=True)
class StackSettings:
    """Every knob of the stack; the context key is the field name in camelCase."""

    stage_name: str = "live"
    """API Gateway stage; the WebSocket URL ends in it."""
    stun_urls: tuple[str, ...] = ()
    """``stun:`` URLs handed to clients by the relay (``STUN_URLS``)."""
    turn_urls: tuple[str, ...] = ()
    """``turn:``/``turns:`` URLs; when set, the relay issues TURN REST credentials."""
    turn_secret_parameter: str = "/sgraph-send/turn-secret"
    """Name of the SSM SecureString holding the TURN shared secret (created by the operator)."""
    turn_credential_ttl_seconds: int = 3600
    """Lifetime of issued TURN credentials."""
    max_receivers: int = 1
    """Receivers per room."""
    connection_ttl_seconds: int = 7200
    """TTL of a connection item; API Gateway closes connections after 2 h anyway."""
    message_rate_per_minute: int = 600
    """Relay messages per connection per minute."""
    connect_rate_per_minute: int = 60
    """New connections per client address per minute."""
    max_connections_per_address: int = 20
    """Open WebSocket connections per client address at once (an office behind one NAT)."""
    throttle_rate_limit: int = 100
    """Stage-wide steady-state requests (connects and messages) per second."""
    throttle_burst_limit: int = 200
    """Stage-wide burst."""
    transfer_expiry_days: int = 7
    """Days after which objects under ``transfers/`` are deleted."""
    cors_allowed_origins: tuple[str, ...] = ()
    """Origins besides the stack's own page that may PUT/GET on the bucket (the page's
    origin is always allowed; presigned URLs carry the authorisation)."""
    domain_name: str = ""
    """Custom domain of the page (with ``certificateArn``); empty: CloudFront's own name."""
    certificate_arn: str = ""
    """ACM certificate for ``domainName``, in us-east-1 (CloudFront's region)."""
    turn: str = ""
    """``coturn``: run a TURN server on a small Graviton EC2 instance; empty: none (or
    your own, through ``turnUrls``)."""
    turn_instance_type: str = "t4g.small"
    """EC2 instance type of the coturn server (arm64)."""
    turn_max_bps: int = DEFAULT_MAX_BPS
    """The coturn server's per-session cap, bytes per second (``max-bps``; 0: none).
    coturn drops what passes it, so it must sit above what one transfer should reach."""
    alarm_email: str = ""
    """An address the alarms notify (an SNS e-mail subscription to confirm once)."""
    max_transfer_bytes: int = 4 * 1024**3
    """Largest transfer the relay lets a sender store in S3 (``MAX_TRANSFER_BYTES``)."""
    powertools_version: str = "latest"
    """Powertools layer version in its public SSM parameter path (``latest`` or e.g. ``3.23.0``)."""
    create_api_gateway_log_role: bool = True
    """Set the account's API Gateway CloudWatch role (needed once per account and region)."""

    @classmethod
    def from_context(cls, node: Node) -> StackSettings:
        """Read every field from context, falling back to the defaults above."""
        converters: dict[str, Callable[[Any], Any]] = {
            "stun_urls": _urls,
            "turn_urls": _urls,
            "cors_allowed_origins": _urls,
            "create_api_gateway_log_role": _bool,
        }
        values: dict[str, Any] = {}
        for field in fields(cls):
            raw = node.try_get_context(_camel(field.name))
            if raw is None:
                continue
            if field.name in converters:
                values[field.name] = converters[field.name](raw)
            elif isinstance(field.default, int) and not isinstance(field.default, bool):
                values[field.name] = int(raw)
            else:
                values[field.name] = str(raw)
        settings = cls(**values)
        if "*" in settings.cors_allowed_origins:
            raise ValueError("corsAllowedOrigins: name origins; '*' would let any site use "
                             "the bucket from a browser (the page's origin is always allowed)")
        if settings.turn not in TURN_CHOICES:
            raise ValueError(f"turn must be one of {sorted(TURN_CHOICES)}, not {settings.turn!r}")
        if settings.turn_max_bps < 0:
            raise ValueError("turnMaxBps is bytes per second per session, 0 for no cap")
        if settings.coturn and settings.turn_urls:
            raise ValueError("turn=coturn makes its own turnUrls: give one or the other")
        if bool(settings.domain_name) != bool(settings.certificate_arn):
            raise ValueError("domainName and certificateArn go together (an ACM certificate "
                             "in us-east-1 for that name)")
        if settings.certificate_arn and ":us-east-1:" not in settings.certificate_arn:
            raise ValueError("certificateArn must be in us-east-1: CloudFront reads it there")
        return settings

    @property
    def coturn(self) -> bool:
        """Whether the stack runs its own coturn instance."""
        return self.turn == "coturn"

    @property
    def turn_enabled(self) -> bool:
        """TURN is offered when URLs are configured or the stack runs coturn."""
        return bool(self.turn_urls) or self.coturn


#: Values of ``turn``: none, or the stack's own coturn instance.
TURN_CHOICES = frozenset({"", "coturn"})


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.capitalize() for part in rest)


def context_keys() -> list[str]:
    """The context keys the stack reads (documentation and tests)."""
    return [_camel(f.name) for f in fields(StackSettings)]
