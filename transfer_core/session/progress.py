"""Progress through many files: which entry a byte count falls in, updates throttled."""

from __future__ import annotations

import time
from typing import Any

from ..protocol.tree import TreeManifest

UPDATE_EVERY_SECONDS = 0.2

__all__ = ["EntryProgress"]


class EntryProgress:
    """Turns `progress(done, total)` over the stream into the entry being moved and the
    whole; `update` returns None when nothing is worth saying yet (at most one update
    every `UPDATE_EVERY_SECONDS`, and always the last)."""

    def __init__(self, manifest: TreeManifest, clock: Any = time.monotonic) -> None:
        self.manifest = manifest
        self._clock = clock
        self._last = -1.0
        self._files = [i for i, e in enumerate(manifest.entries) if not e.is_dir]

    def entry_at(self, done: int) -> int:
        """Index of the entry holding stream byte `done` (the last file once complete)."""
        spans = self.manifest.spans(done, 1) if done < self.manifest.size else []
        if spans:
            return spans[0][0]
        return self._files[-1] if self._files else len(self.manifest.entries) - 1

    def update(self, done: int, total: int) -> dict[str, Any] | None:
        now = self._clock()
        finished = done >= total
        if not finished and now - self._last < UPDATE_EVERY_SECONDS:
            return None
        self._last = now
        index = self.entry_at(done)
        entry = self.manifest.entries[index]
        within = min(max(0, done - self.manifest.starts[index]), entry.size)
        return {"done": done, "total": total, "entry": entry.path, "entry_index": index,
                "entries": len(self.manifest.entries), "entry_done": within,
                "entry_size": entry.size}
