"""Relay handler (`$default` and every action route): hello, signal, ping, ice-servers."""

from typing import Any

from aws_lambda_powertools.logging import correlation_paths

from ._runtime import logger, metrics, nameplates, service_for, telemetry, tracer
from .signalling.relay_api import relay_event


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Handle one client message; errors go back to the caller as `error` messages."""
    return relay_event(service_for(event), event, telemetry, nameplates)
