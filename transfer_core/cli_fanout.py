"""The CLI's display of a send to several receivers (`send --receivers N`, #15).

A rich display: one progress line per receiver (and one for the upload to storage
when there is one), status lines tagged with the receiver's number. With `--json`:
JSON lines `{"event": "status"|"progress", "receiver": n, ...}` (`receiver` 0 is the
upload to storage), progress at most every 5 % of the file per receiver.
"""

from __future__ import annotations

import json
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from .session.report import TransferSummary

__all__ = ["FanOutConsole", "print_receivers"]

JSON_PROGRESS_STEP = 0.05


def _label(number: int) -> str:
    return "storage (S3)" if number == 0 else f"receiver {number}"


class FanOutConsole:
    """`FanOutReporter` on stderr (rich) or stdout (JSON lines)."""

    def __init__(self, console: Console, as_json: bool) -> None:
        self.console = console
        self.as_json = as_json
        self._progress = Progress(
            TextColumn("{task.description}"), BarColumn(), DownloadColumn(),
            TransferSpeedColumn(), TimeRemainingColumn(), console=console, transient=False,
            disable=as_json,
        )
        self._tasks: dict[int, TaskID] = {}
        self._last: dict[int, float] = {}

    def __enter__(self) -> FanOutConsole:
        self._progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._progress.stop()

    def _emit(self, doc: dict[str, Any]) -> None:
        print(json.dumps(doc), flush=True)

    def lane_status(self, number: int, text: str) -> None:
        if self.as_json:
            self._emit({"event": "status", "receiver": number, "text": text})
        else:
            who = "" if number == 0 and "receiver" in text else f"{_label(number)}: "
            self._progress.console.print(f"[dim]•[/dim] {escape(who + text)}")

    def lane_progress(self, number: int, done: int, total: int) -> None:
        if self.as_json:
            share = done / total if total else 1.0
            if share >= 1.0 or share - self._last.get(number, -1.0) >= JSON_PROGRESS_STEP:
                self._last[number] = share
                self._emit({"event": "progress", "receiver": number, "done": done,
                            "total": total})
            return
        if number not in self._tasks:
            self._tasks[number] = self._progress.add_task(_label(number), total=total)
        self._progress.update(self._tasks[number], completed=done, total=total)


def print_receivers(console: Console, summary: TransferSummary) -> None:
    """One line per receiver, then who sent a verified receipt."""
    for entry in summary.receivers or []:
        line = f"  receiver {entry['receiver']}: {entry['outcome']}"
        if entry.get("path"):
            line += (f" ({entry['path']}, {entry.get('seconds', 0):.1f} s,"
                     f" {entry.get('mb_per_s', 0):.1f} MB/s)")
        if entry.get("error"):
            line += f": {entry['error']}"
        console.print(escape(line))
    receipts = summary.receipts or []
    if summary.receivers is not None or receipts:
        names = ", ".join(
            f"receiver {r['receiver_number']}" if r.get("receiver_number") else r["receiver"]
            for r in receipts
        )
        console.print(f"  signed receipts: {len(receipts)}" + (f" ({names})" if names else ""))
