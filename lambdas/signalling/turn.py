"""TURN REST API credentials (the scheme coturn's use-auth-secret and managed TURN accept)."""

from __future__ import annotations

import base64
import hashlib
import hmac


def turn_credentials(secret: str, user: str, expires_at: int) -> tuple[str, str]:
    """Return (username, credential): `expiry:user` and base64(HMAC-SHA1(secret, username))."""
    username = f"{expires_at}:{user}"
    digest = hmac.new(secret.encode(), username.encode(), hashlib.sha1).digest()
    return username, base64.b64encode(digest).decode("ascii")
