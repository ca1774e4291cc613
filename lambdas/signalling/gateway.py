"""API Gateway Management API adapter of the `Gateway` port (`@connections` over boto3)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .ports import GoneError


class ManagementApiGateway:
    """`Gateway` posting through one `apigatewaymanagementapi` client."""

    def __init__(self, client: Any) -> None:
        self._client = client

    def send(self, connection_id: str, data: bytes) -> None:
        try:
            self._client.post_to_connection(ConnectionId=connection_id, Data=data)
        except Exception as exc:
            code = getattr(exc, "response", {}).get("Error", {}).get("Code")
            if code == "GoneException":
                raise GoneError(connection_id) from None
            raise

    def alive(self, connection_id: str) -> bool:
        try:
            self._client.get_connection(ConnectionId=connection_id)
        except Exception as exc:
            code = getattr(exc, "response", {}).get("Error", {}).get("Code")
            if code in ("GoneException", "NotFoundException"):
                return False
            raise
        return True


def endpoint_for(domain_name: str, stage: str) -> str:
    """The `@connections` endpoint API Gateway serves for a WebSocket stage."""
    return f"https://{domain_name}/{stage}"


class GatewayClients:
    """One management API client per endpoint, created on first use and kept warm.

    The endpoint comes from the event (domainName/stage) unless an override is
    configured (`MANAGEMENT_ENDPOINT_URL`, used by the local stack).
    """

    def __init__(self, make_client: Callable[[str], Any], override: str | None = None) -> None:
        self._make_client = make_client
        self._override = override
        self._gateways: dict[str, ManagementApiGateway] = {}

    def for_event(self, event: dict[str, Any]) -> ManagementApiGateway:
        """The gateway that reaches the connections of the API this event came from."""
        if self._override:
            url = self._override
        else:
            rc = event["requestContext"]
            url = endpoint_for(rc["domainName"], rc["stage"])
        gateway = self._gateways.get(url)
        if gateway is None:
            gateway = self._gateways[url] = ManagementApiGateway(self._make_client(url))
        return gateway
