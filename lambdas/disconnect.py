"""`$disconnect` handler: remove the connection and tell the rest of its room."""

from typing import Any

from aws_lambda_powertools.logging import correlation_paths

from ._runtime import logger, metrics, service_for, telemetry, tracer
from .signalling.api import disconnect_event


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Clean up after a closed connection."""
    return disconnect_event(service_for(event), event, telemetry)
