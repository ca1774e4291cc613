"""What every handler shares, built once per Lambda instance at module scope.

Settings from the environment, the Powertools trio, the DynamoDB client and
repository, and the management API clients (created per endpoint on first
use, because the endpoint comes from the event).
"""

from __future__ import annotations

import logging
import os
import time
from typing import Any

import boto3
from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers
from aws_lambda_powertools.metrics import MetricUnit
from botocore.config import Config

from transfer_core.storage.presign import S3Presigner

from .signalling import nameplates as _nameplates
from .signalling.dynamo import DynamoRepository
from .signalling.gateway import GatewayClients
from .signalling.live import LiveConnections
from .signalling.model import Connection
from .signalling.service import LocalCounters, SignallingService
from .signalling.settings import Settings
from .signalling.transfers import DynamoTransfers, TransferControl

SETTINGS = Settings.from_env(os.environ)

logger = Logger(service=SETTINGS.service_name)
# The domain modules log through `logging.getLogger(__name__)`; give those loggers
# Powertools' structured handler so their lines carry the same JSON and context.
for _package in ("lambdas", "transfer_core"):
    logging.getLogger(_package)  # registered, so the copy below reaches its children too
copy_config_to_registered_loggers(source_logger=logger, include={"lambdas", "transfer_core"})
metrics = Metrics(namespace=SETTINGS.metrics_namespace, service=SETTINGS.service_name)
# Only botocore is used; patching every supported library costs cold-start time.
tracer = Tracer(service=SETTINGS.service_name, patch_modules=("botocore",))

_CONFIG = Config(connect_timeout=2, read_timeout=5, retries={"max_attempts": 3, "mode": "standard"})
dynamodb = boto3.client("dynamodb", config=_CONFIG)
repository = DynamoRepository(dynamodb, SETTINGS.table_name)
nameplates = _nameplates.from_env(dynamodb, SETTINGS.table_name)
gateways = GatewayClients(
    lambda url: boto3.client("apigatewaymanagementapi", endpoint_url=url, config=_CONFIG),
    SETTINGS.management_endpoint_url,
)

# Presigning is local (no request). An endpoint override (the local stack's moto on
# 127.0.0.1) needs path-style URLs; on AWS the default virtual-hosted style is kept.
_S3_STYLE = "path" if os.environ.get("AWS_ENDPOINT_URL_S3") else "virtual"
storage = (
    S3Presigner(
        boto3.client(
            "s3", config=_CONFIG.merge(Config(
                signature_version="s3v4", s3={"addressing_style": _S3_STYLE},
                # S3 sends whitespace while it completes a multipart upload, so 5 s
                # between bytes holds on AWS; the local stack's moto sends nothing
                read_timeout=float(os.environ.get("S3_READ_TIMEOUT_SECONDS", "5"))))
        ),
        SETTINGS.bucket_name,
        SETTINGS.presign_ttl_seconds,
    )
    if SETTINGS.bucket_name
    else None
)

#: Limits, expiry and revocation of stored transfers (also the cleanup function's work).
transfers = (
    TransferControl(DynamoTransfers(dynamodb, SETTINGS.table_name), storage,
                    SETTINGS.transfer_expiry_days * 86400)
    if storage is not None
    else None
)


class _TurnSecret:
    """The TURN shared secret: from the environment, or from SSM (cached five minutes)."""

    def __init__(self) -> None:
        self._value: str | None = SETTINGS.turn_secret
        self._fetched_at = 0.0

    def __call__(self) -> str | None:
        name = SETTINGS.turn_secret_parameter
        if name is None or SETTINGS.turn_secret:
            return self._value
        if self._value is None or time.monotonic() - self._fetched_at > 300:
            ssm = boto3.client("ssm", config=_CONFIG)
            self._value = ssm.get_parameter(Name=name, WithDecryption=True)["Parameter"]["Value"]
            self._fetched_at = time.monotonic()
        return self._value


turn_secret = _TurnSecret()
#: Frame and connect counts of this instance, added to DynamoDB in batches.
counters = LocalCounters()
#: Connections this instance admitted, per client address, and its view of the rest.
live = LiveConnections()
#: Items of connections this (relay) instance has read: their rooms never change.
known_connections: dict[str, Connection] = {}


class PowertoolsTelemetry:
    """Counts relayed messages and refusals (dimension `reason`) with Powertools Metrics."""

    def handled(self, name: str) -> None:
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=1)

    def relayed(self, count: int) -> None:
        if count:
            metrics.add_metric(name="Relayed", unit=MetricUnit.Count, value=count)

    def refused(self, reason: str) -> None:
        metrics.add_dimension(name="reason", value=reason)
        metrics.add_metric(name="Refused", unit=MetricUnit.Count, value=1)


telemetry = PowertoolsTelemetry()


def service_for(event: dict[str, Any] | None = None) -> SignallingService:
    """A service bound to the gateway of the event's API."""
    gateway = gateways.for_event(event) if event is not None else None
    return SignallingService(
        repository, SETTINGS, gateway, turn_secret=turn_secret, storage=storage,
        counters=counters, transfers=transfers, live=live, known=known_connections,
    )
