"""Where a stored transfer lives in the bucket, and how its records object is cut into parts.

Keys derive from the room id alone (docs/protocol.md §10):

    transfers/<room id>/manifest            the sealed manifest record
    transfers/<room id>/records/<first>     records first … count-1, laid end to end
"""

from __future__ import annotations

import re
from dataclasses import dataclass

TRANSFER_PREFIX = "transfers/"
MAX_PARTS = 10_000
"""S3's limit on parts per multipart upload."""
MIN_PART_BYTES = 5 * 1024 * 1024
"""S3's minimum for every part but the last."""
PART_TARGET_BYTES = 8 * 1024 * 1024
"""What the reference client aims a part at (whole records, at least this)."""
MAX_FIRST = 2**32 - 1
MAX_MANIFEST_RECORDS = 1024
MAX_MANIFEST_OBJECT_BYTES = MAX_MANIFEST_RECORDS * (32 + 16 + 4096 + 16)
"""The sealed manifest records at their largest: up to 1024 records (revision 2.1: a list
of entries), each header, key check, 4096 bytes of JSON, tag."""
MAX_SINGLE_PUT_BYTES = 5 * 1024**3
"""S3's limit on one PUT."""
MAX_RECORD_OBJECTS = 16
"""Records objects one room may hold: a sender stores a remainder after each break, and
`download-urls` (one presigned URL each) must fit API Gateway's 128 KB message."""
_ROOM_ID = re.compile(r"[0-9a-f]{32}")
_FIRST_DIGITS = 10
_FIRST = re.compile(f"[0-9]{{{_FIRST_DIGITS}}}")


def room_prefix(room_id: str) -> str:
    """`transfers/<room id>/`: everything stored for one link."""
    if not _ROOM_ID.fullmatch(room_id):
        raise ValueError("a room id is 32 lowercase hex characters")
    return f"{TRANSFER_PREFIX}{room_id}/"


def manifest_key(room_id: str) -> str:
    """Key of the sealed manifest record."""
    return room_prefix(room_id) + "manifest"


def records_key(room_id: str, first: int) -> str:
    """Key of the records object whose first record has index `first`."""
    if not 0 <= first <= MAX_FIRST:
        raise ValueError(f"a record index lies in [0, {MAX_FIRST}]")
    return f"{room_prefix(room_id)}records/{first:0{_FIRST_DIGITS}d}"


def split_records_key(room_id: str, key: str) -> int | None:
    """The `first` of a records key of this room, or None for any other key."""
    head = room_prefix(room_id) + "records/"
    tail = key[len(head):] if key.startswith(head) else ""
    # ASCII digits only: str.isdigit() takes '²' (int() then fails) and other scripts' digits
    if not _FIRST.fullmatch(tail):
        return None
    return int(tail)


@dataclass(frozen=True)
class PartPlan:
    """Records `first … count-1` of a transfer, grouped into whole-record parts.

    A function of the record size, `first` and `count` alone, so a restarted
    sender cuts the same parts and can resume an unfinished multipart upload.
    """

    record_size: int
    """`R`: bytes of every record but the last."""
    last_record_bytes: int
    """Bytes of the last record (`48 + length(count-1)`)."""
    count: int
    """Data records in the transfer."""
    first: int = 0
    """Index of the object's first record."""
    target_bytes: int = PART_TARGET_BYTES
    """Aim for parts at least this large (tests lower it with moto's minimum)."""

    def __post_init__(self) -> None:
        if not 0 <= self.first < self.count:
            raise ValueError(f"first record {self.first} outside 0..{self.count - 1}")

    @property
    def records(self) -> int:
        """Records in the object."""
        return self.count - self.first

    @property
    def object_bytes(self) -> int:
        """Exact size of the records object."""
        return (self.records - 1) * self.record_size + self.last_record_bytes

    @property
    def records_per_part(self) -> int:
        by_size = -(-self.target_bytes // self.record_size)
        by_count = -(-self.records // MAX_PARTS)
        return max(by_size, by_count)

    @property
    def parts(self) -> int:
        """Number of parts (1 means: one single PUT, no multipart upload)."""
        return -(-self.records // self.records_per_part)

    @property
    def part_bytes(self) -> int:
        """Bytes of every part but the last (what `upload-start` declares as `partSize`)."""
        return self.records_per_part * self.record_size

    @property
    def multipart(self) -> bool:
        return self.parts > 1

    def part_records(self, part: int) -> range:
        """Record indices of part `part` (numbered from 1, as S3 does)."""
        if not 1 <= part <= self.parts:
            raise ValueError(f"part {part} outside 1..{self.parts}")
        start = self.first + (part - 1) * self.records_per_part
        return range(start, min(start + self.records_per_part, self.count))

    def record_offset(self, index: int) -> int:
        """Where record `index` starts in the object."""
        return (index - self.first) * self.record_size
