"""The receiver's progress record: which chunks it holds, and which transport brought each."""

from __future__ import annotations

import base64
import json
import os
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

from ..errors import ProgressError
from .ranges import RangeEncodingError, RangeSet

__all__ = ["ProgressRecord", "Via"]


class Via(StrEnum):
    """The transport that delivered a chunk."""

    P2P = "p2p"
    S3 = "s3"


@dataclass
class ProgressRecord:
    """Held chunks per transport; the union is what the receiver tells a resuming sender."""

    transfer_id: bytes
    """The transfer these chunks belong to."""
    count: int
    """Number of data records in the transfer."""
    via: dict[Via, RangeSet] = field(default_factory=dict)
    """For each transport, the chunks it delivered."""

    def __post_init__(self) -> None:
        for transport in Via:
            self.via.setdefault(transport, RangeSet(self.count))
        self._held = RangeSet(self.count)
        for ranges in self.via.values():
            self._held = self._held.union(ranges)

    @property
    def held(self) -> RangeSet:
        return self._held

    @property
    def complete(self) -> bool:
        return self._held.complete

    def holds(self, index: int) -> bool:
        return index in self._held

    def missing(self) -> RangeSet:
        return self._held.complement()

    def mark(self, index: int, via: Via) -> None:
        self._held.add(index)
        self.via[via].add(index)

    def copy(self) -> ProgressRecord:
        """A snapshot, to be written by another thread while this one keeps changing."""
        return ProgressRecord(self.transfer_id, self.count,
                              {v: r.copy() for v, r in self.via.items()})

    def counts(self) -> dict[str, int]:
        """Chunks per transport, for summaries."""
        return {str(v): len(r) for v, r in self.via.items()}

    # --- persistence ---------------------------------------------------------

    def to_json(self) -> bytes:
        return json.dumps(
            {
                "v": 1,
                "transfer_id": self.transfer_id.hex(),
                "count": self.count,
                "via": {
                    str(v): base64.b64encode(r.encode()).decode() for v, r in self.via.items()
                },
            },
            sort_keys=True,
            separators=(",", ":"),  # canonical, like the manifest (the vectors are exact)
        ).encode()

    @classmethod
    def from_json(cls, data: bytes) -> ProgressRecord:
        try:
            doc = json.loads(data)
            if doc["v"] != 1:
                raise ValueError(f"progress version {doc['v']!r} is not supported")
            count = int(doc["count"])
            via = {Via(k): RangeSet.decode(base64.b64decode(v, validate=True))
                   for k, v in doc["via"].items()}
            transfer_id = bytes.fromhex(doc["transfer_id"])
            if len(transfer_id) != 16:
                raise ValueError("a transfer id is 16 bytes")
            record = cls(transfer_id, count, via)
        except (ValueError, KeyError, TypeError, RangeEncodingError) as exc:
            raise ProgressError(f"the saved progress is unreadable: {exc}") from None
        if any(r.universe != count for r in via.values()):
            raise ProgressError("the saved progress does not match its chunk count")
        return record

    def save(self, path: Path) -> None:
        """Atomic replace, so a crash leaves either the old record or the new one."""
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(self.to_json())
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: Path) -> ProgressRecord:
        return cls.from_json(path.read_bytes())
