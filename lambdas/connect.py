"""`$connect` handler: admit the connection into its room (DynamoDB; GetConnection if taken)."""

from typing import Any

from aws_lambda_powertools.logging import correlation_paths

from ._runtime import logger, metrics, nameplates, service_for, telemetry, tracer
from .signalling.api import connect_event


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Admit or refuse; API Gateway rejects the upgrade on a non-200."""
    return connect_event(service_for(event), event, telemetry, nameplates)
