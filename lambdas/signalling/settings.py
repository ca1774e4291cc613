"""Typed settings, read once from the environment (names from docs/contracts.md)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

#: API Gateway closes every WebSocket connection after two hours.
MAX_CONNECTION_SECONDS = 7200

#: Largest `payload` (compact JSON, UTF-8 bytes) the relay forwards. Chosen so a
#: whole `signal` message fits in one 32 KB API Gateway frame with room to spare.
MAX_PAYLOAD_BYTES = 16 * 1024


class SettingsError(ValueError):
    """The Lambda environment is misconfigured (a deploy bug, not a client error)."""


def _split(value: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in value.split(",") if part.strip())


def _int(env: Mapping[str, str], name: str, default: int, minimum: int = 1) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise SettingsError(f"{name} must be an integer, got {raw!r}") from exc
    if value < minimum:
        raise SettingsError(f"{name} must be at least {minimum}, got {value}")
    return value


@dataclass(frozen=True, slots=True)
class Settings:
    """Configuration of the signalling Lambdas."""

    table_name: str
    """DynamoDB table holding connections, slots, counters and salts."""
    room_index_name: str = "room-index"
    """GSI listing a room's connection items (partition `room_id`, sort `sk`)."""
    bucket_name: str | None = None
    """S3 fallback bucket (used from the S3 issue on)."""
    max_receivers: int = 1
    """Receivers per room; there is always exactly one sender slot."""
    connection_ttl_seconds: int = MAX_CONNECTION_SECONDS
    """Lifetime of connection and slot items, never above API Gateway's 2 h."""
    stun_urls: tuple[str, ...] = ()
    """`stun:` URLs handed out by `ice-servers`."""
    turn_urls: tuple[str, ...] = ()
    """`turn:`/`turns:` URLs handed out by `ice-servers`."""
    turn_secret: str | None = None
    """TURN REST shared secret given directly (local stack only)."""
    turn_secret_parameter: str | None = None
    """SSM SecureString name holding the TURN secret (AWS)."""
    turn_credential_ttl_seconds: int = 3600
    """Lifetime of TURN credentials."""
    message_rate_per_minute: int = 600
    """Relay messages per connection per minute."""
    connect_rate_per_minute: int = 60
    """New connections per client address per minute."""
    max_connections_per_address: int = 20
    """Open connections per client address at once (an office behind one NAT sending
    to a team: ten transfers with both ends there)."""
    management_endpoint_url: str | None = None
    """Override of the `@connections` endpoint (local stack)."""
    presign_ttl_seconds: int = 600
    """Lifetime of the presigned S3 URLs the storage actions hand out."""
    transfer_expiry_days: int = 7
    """Days a stored transfer is kept (the bucket's lifecycle rule on `transfers/`)."""
    max_transfer_bytes: int = 4 * 1024**3
    """Most bytes of records objects one room may store (the stack's `maxTransferBytes`)."""
    service_name: str = "sgraph-send"
    """Powertools service name."""
    metrics_namespace: str = "sgraph-send"
    """Powertools metrics namespace."""
    admission_grace_seconds: int = 30
    """A connection this young may still be finishing its upgrade: never removed on a 410."""
    client_hash_secret: str | None = None
    """Secret the daily salt of client-address hashes derives from (never in the table)."""
    max_payload_bytes: int = MAX_PAYLOAD_BYTES
    """Largest forwarded payload (not configurable by env: clients rely on it)."""

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        """Build settings from an environment mapping; raise `SettingsError` if invalid."""
        table = env.get("TABLE_NAME", "").strip()
        if not table:
            raise SettingsError("TABLE_NAME is required")
        turn_urls = _split(env.get("TURN_URLS", ""))
        stun_urls = _split(env.get("STUN_URLS", ""))
        for url in stun_urls:
            if not url.startswith("stun:"):
                raise SettingsError(f"STUN_URLS entries must start with stun:, got {url!r}")
        for url in turn_urls:
            if not url.startswith(("turn:", "turns:")):
                raise SettingsError(
                    f"TURN_URLS entries must start with turn: or turns:, got {url!r}"
                )
        ttl = min(
            _int(env, "CONNECTION_TTL_SECONDS", MAX_CONNECTION_SECONDS), MAX_CONNECTION_SECONDS
        )
        return cls(
            table_name=table,
            room_index_name=env.get("ROOM_INDEX_NAME", "").strip() or "room-index",
            bucket_name=env.get("BUCKET_NAME", "").strip() or None,
            max_receivers=_int(env, "MAX_RECEIVERS", 1),
            connection_ttl_seconds=ttl,
            stun_urls=stun_urls,
            turn_urls=turn_urls,
            turn_secret=env.get("TURN_SECRET") or None,
            turn_secret_parameter=env.get("TURN_SECRET_PARAMETER", "").strip() or None,
            turn_credential_ttl_seconds=_int(env, "TURN_CREDENTIAL_TTL_SECONDS", 3600),
            message_rate_per_minute=_int(env, "MESSAGE_RATE_PER_MINUTE", 600),
            connect_rate_per_minute=_int(env, "CONNECT_RATE_PER_MINUTE", 60),
            max_connections_per_address=_int(env, "MAX_CONNECTIONS_PER_ADDRESS", 20),
            management_endpoint_url=env.get("MANAGEMENT_ENDPOINT_URL", "").strip() or None,
            presign_ttl_seconds=min(_int(env, "PRESIGN_TTL_SECONDS", 600), 3600),
            transfer_expiry_days=_int(env, "TRANSFER_EXPIRY_DAYS", 7),
            max_transfer_bytes=_int(env, "MAX_TRANSFER_BYTES", 4 * 1024**3),
            admission_grace_seconds=_int(env, "ADMISSION_GRACE_SECONDS", 30, minimum=0),
            client_hash_secret=env.get("CLIENT_HASH_SECRET") or None,
            service_name=env.get("POWERTOOLS_SERVICE_NAME", "").strip() or "sgraph-send",
            metrics_namespace=env.get("POWERTOOLS_METRICS_NAMESPACE", "").strip() or "sgraph-send",
        )
