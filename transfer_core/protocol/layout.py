"""How a file of a given size is cut into chunks for a given record size."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..errors import RecordSizeError
from .ranges import RangeSet

HEADER_BYTES = 32
TAG_BYTES = 16
OVERHEAD = HEADER_BYTES + TAG_BYTES
MIN_RECORD_SIZE = 16 * 1024
"""A whole record fits one 16 KiB data-channel message, the size every WebRTC stack takes."""
DEFAULT_RECORD_SIZE = 128 * 1024
"""The sender's preferred record size (docs/protocol.md §8): used whenever the receiver's
max-message-size allows it, and with no peer at all (a transfer stored straight to S3).
Measured (docs/benchmarks.md, session 13): 128 KiB moves CLI to CLI about a fifth
faster than 64 KiB for a sixth less CPU per MB, and page to CLI about a tenth faster;
256 KiB gains nothing more and doubles what a restart may re-send."""
MAX_RECORD_SIZE = 256 * 1024
MAX_CHUNKS = 2**32 - 1


@dataclass(frozen=True)
class ChunkLayout:
    """File size and record size, and everything that follows from them."""

    size: int
    """File size in bytes."""
    record_size: int = DEFAULT_RECORD_SIZE
    """Bytes of one full record on the wire (header + ciphertext + tag)."""

    def __post_init__(self) -> None:
        if not MIN_RECORD_SIZE <= self.record_size <= MAX_RECORD_SIZE:
            raise RecordSizeError(
                f"record size must lie in [{MIN_RECORD_SIZE}, {MAX_RECORD_SIZE}],"
                f" not {self.record_size}"
            )
        if self.size < 0:
            raise ValueError("a file size is not negative")
        if self.count > MAX_CHUNKS:
            raise RecordSizeError("the file is too large for this record size")

    @property
    def chunk_size(self) -> int:
        """Plaintext bytes in every record but the last."""
        return self.record_size - OVERHEAD

    @property
    def count(self) -> int:
        """Number of data records; an empty file still has one (empty, last) record."""
        return max(1, -(-self.size // self.chunk_size))

    def offset(self, index: int) -> int:
        """Where chunk `index` starts in the file."""
        return index * self.chunk_size

    def length(self, index: int) -> int:
        """Plaintext bytes of chunk `index`."""
        if not 0 <= index < self.count:
            raise IndexError(f"chunk {index} outside 0..{self.count - 1}")
        return min(self.chunk_size, self.size - self.offset(index))

    def record_length(self, index: int) -> int:
        """Bytes of sealed record `index` (its offset among the records follows from it)."""
        return self.length(index) + OVERHEAD

    def record_offset(self, index: int) -> int:
        """Where record `index` starts when the records are laid end to end (one S3 object)."""
        return index * self.record_size

    def bytes_in(self, held: RangeSet) -> int:
        """Plaintext bytes in a set of chunks (for progress)."""
        short = self.chunk_size - self.length(self.count - 1) if (self.count - 1) in held else 0
        return len(held) * self.chunk_size - short

    @property
    def sealed_size(self) -> int:
        """Bytes of all data records laid end to end."""
        return self.record_offset(self.count - 1) + self.record_length(self.count - 1)


class Chunked:
    """A manifest's view of its byte stream (one file, or a tree's files end to end): the
    layout of `size` bytes in records of `record_size`."""

    if TYPE_CHECKING:  # a field of one manifest, a property of the other
        @property
        def size(self) -> int: ...

        record_size: int

    @property
    def layout(self) -> ChunkLayout:
        return ChunkLayout(self.size, self.record_size)

    @property
    def chunk_count(self) -> int:
        return self.layout.count

