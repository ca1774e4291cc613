"""Signalling domain for the WebSocket relay: rooms, slots, rate limits, messages.

The modules here import only the standard library, except `dynamo` and
`gateway` (botocore through boto3); `ports` and `memory` use `transfer_core.storage`
(standard library only).
"""

#: Route keys the relay answers besides `$default` (the CDK stack may map
#: each of them to the relay function, or only `$default`; both work).
RELAY_ACTIONS: tuple[str, ...] = (
    "hello", "signal", "ping", "ice-servers",
    "upload-start", "upload-parts", "upload-complete", "download-urls",
    "transfer-limits", "download-done", "revoke",  # control_api.py
)

__all__ = ["RELAY_ACTIONS"]
