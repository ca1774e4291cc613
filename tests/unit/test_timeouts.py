"""`within`: a time limit that never loses a cancellation (transfer_core/timeouts.py)."""

from __future__ import annotations

import asyncio
import re
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from transfer_core.timeouts import within

ROOT = Path(__file__).resolve().parents[2]


async def _cancel_as_a_message_arrives(limit: Callable[..., Awaitable[object]]) -> bool:
    """A loop awaiting each message under a time limit is cancelled in the very loop
    iteration in which its message arrives (a Ctrl-C in a busy receive); True if the
    loop stopped."""
    inbox: asyncio.Queue[int] = asyncio.Queue()

    async def receive_loop() -> None:
        while True:
            await limit(inbox.get(), 5)

    task = asyncio.create_task(receive_loop())
    await asyncio.sleep(0)  # the loop now waits on the inbox
    inbox.put_nowait(1)
    task.cancel()
    await asyncio.sleep(0.05)
    stopped = task.done()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    return stopped


async def test_a_cancellation_that_lands_with_the_message_stops_the_loop() -> None:
    assert await _cancel_as_a_message_arrives(within)


async def test_python_311_wait_for_loses_it_which_is_why_within_exists() -> None:
    # if this starts failing, the interpreter fixed gh-86296 and `within` could go
    stopped = await _cancel_as_a_message_arrives(asyncio.wait_for)
    assert stopped is (sys.version_info[:2] != (3, 11))


async def test_within_times_out_and_passes_results() -> None:
    assert await within(asyncio.sleep(0, "ok"), 1) == "ok"
    with pytest.raises(TimeoutError):
        await within(asyncio.Event().wait(), 0.01)
    assert await within(asyncio.sleep(0, 7), None) == 7


def test_no_product_code_uses_asyncio_wait_for() -> None:
    uses = [f"{path.relative_to(ROOT)}:{n}"
            for folder in ("transfer_core", "devstack", "lambdas")
            for path in sorted((ROOT / folder).rglob("*.py"))
            for n, line in enumerate(path.read_text().splitlines(), 1)
            if re.search(r"\bwait_for\(", line)]
    assert not uses, f"use transfer_core.timeouts.within instead: {uses}"
