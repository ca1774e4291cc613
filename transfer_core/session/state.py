"""What a sender keeps on disk so that a restarted `send --resume` can finish the transfer,
and what either side remembers of a finished one (so a re-run says it is complete).

    <state dir>/<room id>/manifest.rec   the sealed manifest (fixes the transfer id)
                         /held           the receiver's last `have` (range encoding)
    <state dir>/done/<room id>.json      a finished transfer: role, file name, where saved

The state dir is `$SGRAPH_SEND_STATE_DIR`, else `$XDG_STATE_HOME/sgraph-send`, else
`~/.local/state/sgraph-send`. Nothing here is secret without the link: the
manifest is sealed and the held set is a list of chunk numbers.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from ..protocol.ranges import RangeEncodingError, RangeSet

STATE_ENV = "SGRAPH_SEND_STATE_DIR"
DONE_KEPT_SECONDS = 30 * 86400
"""Records of finished transfers are pruned after this long (stored ones expire in 7 days)."""


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


@dataclass(frozen=True)
class DoneRecord:
    """A transfer that finished on this machine."""

    role: str
    """`sender` (the receiver verified the file) or `receiver` (saved it)."""
    name: str
    """The file's name."""
    destination: str | None = None
    """Receiver: where the file was saved."""
    finished: float = 0.0
    """Epoch seconds."""


class DoneRecords:
    """Finished transfers by room id, kept beside the senders' state (nothing secret: a
    room id, a file name, a path on this machine)."""

    def __init__(self, root: Path | None = None) -> None:
        self.dir = (root or state_root()) / "done"

    def _path(self, room_id: str, role: str) -> Path:
        return self.dir / f"{room_id}.{role}.json"

    def save(self, room_id: str, record: DoneRecord) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        stamped = DoneRecord(record.role, record.name, record.destination, time.time())
        _atomic_write(self._path(room_id, record.role), json.dumps(asdict(stamped)).encode())
        self._prune()

    def get(self, room_id: str, role: str) -> DoneRecord | None:
        try:
            doc = json.loads(self._path(room_id, role).read_text())
            return DoneRecord(str(doc["role"]), str(doc["name"]), doc.get("destination"),
                              float(doc.get("finished", 0)))
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def _prune(self) -> None:
        cutoff = time.time() - DONE_KEPT_SECONDS
        for path in self.dir.glob("*.json"):
            try:
                if path.stat().st_mtime < cutoff:
                    path.unlink()
            except OSError:
                continue
