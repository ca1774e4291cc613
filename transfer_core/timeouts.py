"""A time limit on one await that never loses a cancellation.

Python 3.11's `asyncio.wait_for` drops a cancellation that lands in the loop iteration in
which the awaited thing completes: it returns the result and the task runs on
(bpo-42130 / gh-86296, fixed in 3.12). In a receive loop that waits on each message, a
Ctrl-C (which cancels the main task once) hit that window under load and the CLI went on
to finish the transfer. `asyncio.timeout` keeps the cancellation; `within` is it, as a call.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TypeVar

T = TypeVar("T")


async def within(awaitable: Awaitable[T], seconds: float | None) -> T:
    """`awaitable`'s result, or `TimeoutError` after `seconds` (None: no limit)."""
    async with asyncio.timeout(seconds):
        return await awaitable
