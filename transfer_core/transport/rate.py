"""A rate limit for `--limit-rate`: a token bucket that paces bytes per second.

Peer to peer the receiver's limit reaches the sender through the flow-control
window (`window.py`): a receiver that takes records slowly acknowledges slowly, and
the sender waits. So either side can cap a transfer, as `curl --limit-rate` does.
"""

from __future__ import annotations

import asyncio
import re
import time

__all__ = ["RateLimit", "parse_rate"]

_UNITS = {"": 1, "K": 1024, "M": 1024**2, "G": 1024**3}
_RATE = re.compile(r"(\d+(?:\.\d+)?)\s*([KMG]?)(?:i?B)?(?:/s)?", re.IGNORECASE)


def parse_rate(text: str) -> int:
    """Bytes per second from `500K`, `4M`, `1.5MB/s`, `2000000` (K = 1024, as curl)."""
    match = _RATE.fullmatch(text.strip())
    if match is None:
        raise ValueError(f"not a rate: {text!r} (say for example 500K or 4M)")
    rate = int(float(match.group(1)) * _UNITS[match.group(2).upper()])
    if rate < 1024:
        raise ValueError(f"a rate of {text!r} is below 1K per second")
    return rate


class RateLimit:
    """At most `rate` bytes per second on average, in bursts of at most `burst`."""

    def __init__(self, rate: int, burst: int | None = None) -> None:
        self.rate = rate
        self.burst = burst if burst is not None else max(rate // 10, 64 * 1024)
        self._tokens = float(self.burst)
        self._at = time.monotonic()

    async def take(self, size: int) -> None:
        """Wait until `size` bytes may pass (a size over the burst passes on a full
        bucket and leaves it in debt, so the average holds)."""
        now = time.monotonic()
        self._tokens = min(self.burst, self._tokens + (now - self._at) * self.rate)
        self._at = now
        need = min(size, self.burst)
        if self._tokens < need:
            await asyncio.sleep((need - self._tokens) / self.rate)
            self._tokens, self._at = float(need), time.monotonic()
        self._tokens -= size
