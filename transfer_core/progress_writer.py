"""The receiver's progress record written one write at a time, off the event loop if asked.

A receiver on the event loop that fsyncs its data in line stalls the loop for the
fsync (8 ms median, 22 ms at worst in the lab, #13): every SCTP acknowledgement due
meanwhile waits, and on a lossy path the sender's congestion window pays for it. So
the receiving session has the fsync and the progress write done in one worker thread.

A request carries a *snapshot* of the progress, taken by the caller after the chunks it
names were handed to the kernel, and, for a save, a *flush*: the fsync of the data
written so far, also chosen by the caller at that moment. The writer runs the flush
first, then writes the snapshot (`ProgressRecord.save`: an atomic replace, so a crash
mid-write leaves the previous record): a record written after a flush never claims a
chunk that flush did not cover. Requests made while a write is in flight are
coalesced: the next write takes the newest snapshot and runs every flush asked for
meanwhile. A flush that fails is owed to the next request; its snapshot is not
written, and the error is raised to the caller of the next request or `wait`.

Without a thread (`background=False`) the same requests run in the caller's thread
before `request` returns: what a synchronous user of `PartialFile` (the test vectors,
tools, tests) gets.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from .protocol.progress import ProgressRecord

__all__ = ["Flush", "ProgressWriter"]

Flush = Callable[[], None]
"""Puts on disk (fsync) the data written before it was made."""


class ProgressWriter:
    """Writes snapshots of one transfer's progress record, one at a time, newest first."""

    def __init__(self, path: Path, written: Callable[[ProgressRecord], None], *,
                 background: bool = False) -> None:
        self._path = path
        self._written = written
        """Told each snapshot once it is on disk (in the writing thread)."""
        self._done = threading.Condition()
        self._snapshot: ProgressRecord | None = None
        self._flushes: list[Flush] = []
        """Flushes asked for and not yet run (a failed one stays owed)."""
        self._running = False
        self._error: BaseException | None = None
        self._thread = (ThreadPoolExecutor(1, thread_name_prefix="progress")
                        if background else None)

    @property
    def busy(self) -> bool:
        """A write is in flight or waiting."""
        return self._running or self._snapshot is not None

    def request(self, snapshot: ProgressRecord, flush: Flush | None = None) -> None:
        """Write `snapshot` (after `flush` and any earlier flush still owed), now or
        once the write in flight is done; raises the error of an earlier write."""
        with self._done:
            self._raise()
            self._snapshot = snapshot
            if flush is not None:
                self._flushes.append(flush)
            if self._running:
                return  # the write in flight takes this one next
            self._running = True
        if self._thread is None:
            self._drain()
            with self._done:
                self._raise()
        else:
            self._thread.submit(self._drain)

    def wait(self) -> None:
        """Block until every requested write is done; raise the error of a failed one."""
        with self._done:
            while self._running:
                self._done.wait()
            self._raise()

    def close(self) -> None:
        """Wait for the writes, then let the thread go (errors are the caller's `wait`)."""
        with self._done:
            while self._running:
                self._done.wait()
        if self._thread is not None:
            self._thread.shutdown()

    def _raise(self) -> None:
        error, self._error = self._error, None
        if error is not None:
            raise error

    def _drain(self) -> None:
        while True:
            with self._done:
                snapshot, self._snapshot = self._snapshot, None
                flushes, self._flushes = self._flushes, []
                if snapshot is None:
                    self._running = False
                    self._done.notify_all()
                    return
            try:
                while flushes:
                    flushes[0]()
                    flushes.pop(0)
                snapshot.save(self._path)
                self._written(snapshot)
            except BaseException as exc:  # noqa: BLE001 - handed to the requester
                with self._done:
                    self._flushes[:0] = flushes  # owed to the next request
                    self._snapshot = None  # newer requests carry newer snapshots
                    self._error = exc
                    self._running = False
                    self._done.notify_all()
                return
