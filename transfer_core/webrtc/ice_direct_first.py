"""A direct path before a relayed one: a small adapter over aioice's checks.

aioice's controlling agent nominates aggressively: every check it sends carries
USE-CANDIDATE, so the first candidate pair whose check succeeds carries the transfer.
Between two endpoint-independent NATs a direct pair needs both sides' checks to open
the NATs' mappings first (the first check towards the other side's srflx address is
dropped and retried 0.5 s later), while a pair through the other side's TURN relay
answers at once. So a transfer that could go direct often went through TURN: slower,
and paid for by whoever runs the relay. (The lab test
`test_cli_to_page_through_endpoint_independent_nats_is_direct` caught it.)

`install_direct_first` makes the controlling side hold a relayed pair's check back
while a non-relayed pair may still succeed: until every non-relayed pair has failed,
or `DIRECT_FIRST_SECONDS` after the first check started, whichever comes first. A
direct pair that succeeds meanwhile is nominated, and aioice then drops the waiting
relayed checks as it drops any unchecked pair. A path with no direct pair
(`--relay-only`, symmetric NATs) loses at most `DIRECT_FIRST_SECONDS`; one with no
relayed pair, nothing.

Pinned with `ice_pacing` to the aioice release it was checked against;
tests/unit/test_ice_direct_first.py pins the source it relies on.
"""

from __future__ import annotations

import asyncio
from typing import Any

from aioice.ice import CandidatePair, Connection

from .ice_pacing import supported

DIRECT_FIRST_SECONDS = 1.0
"""How long a relayed pair's check waits for a direct pair: one retry of a check that
a NAT dropped (aioice retries after 0.5 s) for the pairs checked first."""
_POLL_SECONDS = 0.05
_MARK = "_sgraph_send_direct_first"


def relayed(pair: CandidatePair) -> bool:
    """Whether the pair goes through a TURN relay on either side."""
    return "relay" in (pair.local_candidate.type, pair.remote_candidate.type)


def direct_pending(connection: Connection, pair: CandidatePair) -> bool:
    """Whether a pair other than `pair` that is not relayed may still succeed."""
    return any(p is not pair and not relayed(p) and p.state != CandidatePair.State.FAILED
               for p in connection._check_list)


def install_direct_first(connection: Connection | None) -> bool:
    """Hold relayed checks back on `connection` while it is controlling (idempotent);
    False when nothing was installed (no connection, or another aioice)."""
    if connection is None or not supported():
        return False
    if getattr(connection, _MARK, False):
        return True
    original = connection.check_start
    first: list[float] = []

    async def check_start(pair: CandidatePair) -> Any:
        loop = asyncio.get_running_loop()
        if not first:
            first.append(loop.time())
        if connection.ice_controlling and relayed(pair):
            deadline = first[0] + DIRECT_FIRST_SECONDS
            while loop.time() < deadline and direct_pending(connection, pair):
                await asyncio.sleep(min(_POLL_SECONDS, deadline - loop.time()))
        return await original(pair)

    connection.check_start = check_start  # type: ignore[method-assign]
    setattr(connection, _MARK, True)
    return True
