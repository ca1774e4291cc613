"""Stored transfers (the S3 fallback): object keys, the part plan, and presigning.

Lambda-safe: the standard library and boto3 only (the relay bundles this
package; see `infra/bundling.py`). Layout in docs/protocol.md §10.
"""

from .layout import (
    MAX_PARTS,
    MIN_PART_BYTES,
    PART_TARGET_BYTES,
    TRANSFER_PREFIX,
    PartPlan,
    manifest_key,
    records_key,
    room_prefix,
    split_records_key,
)

__all__ = [
    "MAX_PARTS",
    "MIN_PART_BYTES",
    "PART_TARGET_BYTES",
    "TRANSFER_PREFIX",
    "PartPlan",
    "manifest_key",
    "records_key",
    "room_prefix",
    "split_records_key",
]
