"""What a sender keeps on disk so that a restarted `send --resume` can finish the transfer.

    <state dir>/<room id>/manifest.rec   the sealed manifest (fixes the transfer id)
                         /held           the receiver's last `have` (range encoding)

The state dir is `$SGRAPH_SEND_STATE_DIR`, else `$XDG_STATE_HOME/sgraph-send`, else
`~/.local/state/sgraph-send`. Nothing here is secret without the link: the
manifest is sealed and the held set is a list of chunk numbers.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from ..protocol.ranges import RangeEncodingError, RangeSet

STATE_ENV = "SGRAPH_SEND_STATE_DIR"


def state_root() -> Path:
    if env := os.environ.get(STATE_ENV):
        return Path(env)
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "sgraph-send"


class SendState:
    """A sender's resumable state for one room."""

    def __init__(self, room_id: str, root: Path | None = None) -> None:
        self.dir = (root or state_root()) / room_id

    def save_manifest(self, record: bytes) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        _atomic_write(self.dir / "manifest.rec", record)

    def manifest(self) -> bytes | None:
        try:
            return (self.dir / "manifest.rec").read_bytes()
        except OSError:
            return None

    def save_held(self, held: RangeSet) -> None:
        if self.dir.exists():
            _atomic_write(self.dir / "held", held.encode())

    def held(self, count: int) -> RangeSet:
        try:
            held = RangeSet.decode((self.dir / "held").read_bytes())
        except (OSError, RangeEncodingError):
            return RangeSet(count)
        return held if held.universe == count else RangeSet(count)

    def clear(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)


def _atomic_write(path: Path, data: bytes) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)
